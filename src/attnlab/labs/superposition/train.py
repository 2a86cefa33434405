"""Training the toy models: every probability of the sweep times `instances` random starts, as
one batched ToyModel, by the project's one loop (`attnlab.train.loop.train_loop`).

The loss is the paper's importance-weighted squared error, L = mean over samples of
Σ_i I_i (x_i − x'_i)², for each instance; training minimises the sum over instances, so each
instance's gradient is its own loss's (Adam then scales every weight on its own). Fresh samples
every step: there is no data set to overfit. Nothing is written to disk (the run takes seconds);
Ctrl-C stops after the current step and the weights reached so far are analysed.

Learning rate 1e-2, constant, batch 256, 2,000 steps: measured to settle the 5-into-2 model at
every probability (the paper's code used 1e-3, batch 1024, 10,000 steps; see benchmarks/README.md).
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from attnlab.labs.superposition.config import ToyConfig
from attnlab.labs.superposition.data import importance_weights, sparse_features
from attnlab.labs.superposition.model import ToyModel
from attnlab.model.memory import require_memory
from attnlab.runs.metrics import MetricsWriter
from attnlab.train.loop import LoopResult, Plan, train_loop

EventFn = Callable[[str, dict[str, Any]], None]
EVAL_SAMPLES = 8192  # per instance: the loss that picks each probability's best instance
EVAL_CHUNK = 1024  # samples per instance evaluated at once


def memory_bytes(cfg: ToyConfig) -> int:
    """A rough bound on what training needs, to refuse the absurd before it is allocated: W and b
    with their gradients and Adam's two moments, and about eight (I, B, n)-sized fp32 tensors alive
    in a step (the batch, the output, their difference, what autograd keeps)."""
    instances = len(cfg.probabilities) * cfg.instances
    weights = 4 * instances * (cfg.dims + 1) * cfg.features
    step = 8 * instances * max(cfg.batch_size, EVAL_CHUNK) * cfg.features
    return 4 * (weights + step)


def weighted_error(x: torch.Tensor, out: torch.Tensor, importance: torch.Tensor) -> torch.Tensor:
    """x, out (I, B, n), importance (n,) -> (I,): mean over the batch of Σ_i I_i (x_i − x'_i)²."""
    return (importance * (x - out) ** 2).sum(dim=-1).mean(dim=-1)


def instance_probabilities(cfg: ToyConfig) -> torch.Tensor:
    """(len(probabilities) * instances,): instance k * instances + j is start j at probability k."""
    return torch.tensor(cfg.probabilities, dtype=torch.float32).repeat_interleave(cfg.instances)


def train_toy(cfg: ToyConfig, on_event: EventFn | None = None) -> tuple[ToyModel, torch.Tensor, LoopResult]:
    """-> (the trained models as one ToyModel, each instance's probability (I,), the loop's result)."""
    probability = instance_probabilities(cfg)
    require_memory(memory_bytes(cfg), f"training {probability.shape[0]} toy models of {cfg.features} features")
    generator = torch.Generator().manual_seed(cfg.seed)  # the starts and every batch
    importance = importance_weights(cfg.features, cfg.importance)
    model = ToyModel(probability.shape[0], cfg.features, cfg.dims, generator)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    emit = on_event or (lambda kind, info: None)
    emit("start", {"step": 0, "max_iters": cfg.steps, "device": "cpu", "dtype": "fp32",
                   "parameters": sum(p.numel() for p in model.parameters())})

    def loss_fn(model: ToyModel, x: torch.Tensor) -> torch.Tensor:
        return weighted_error(x, model(x), importance).sum()

    plan = Plan(next_batch=lambda: sparse_features(probability, cfg.batch_size, cfg.features, generator),
                loss_fn=loss_fn, lr=lambda step: cfg.lr, max_steps=cfg.steps, eval_interval=cfg.steps,
                log_interval=0, plot=False)
    result = train_loop(model, optimizer, plan, MetricsWriter(None, enabled=False), emit=emit)
    return model.eval(), probability, result


@torch.no_grad()
def evaluate(model: ToyModel, probability: torch.Tensor, importance: torch.Tensor, seed: int,
             samples: int = EVAL_SAMPLES, chunk: int = EVAL_CHUNK) -> torch.Tensor:
    """Each instance's loss on `samples` fresh samples drawn from `seed` -> (I,)."""
    generator = torch.Generator().manual_seed(seed)
    total = torch.zeros(probability.shape[0])
    for start in range(0, samples, chunk):
        n = min(chunk, samples - start)
        x = sparse_features(probability, n, model.W.shape[-1], generator)  # (I, n, features)
        total += weighted_error(x, model(x), importance) * n
    return total / samples
