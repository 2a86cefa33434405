"""The grokking lab: a one-layer transformer learns `a + b mod p`, first by heart, then for real.

Nanda et al. 2023's setting by default: input `a b =` (vocabulary p + 1), one layer, d_model 128,
4 heads of 32, d_ff 512, ReLU, no LayerNorm, learned positions, a separate unembedding; the loss
and accuracy on the last position only; full-batch AdamW (betas 0.9, 0.98, weight decay 1.0) at a
constant learning rate after a 10-step warm-up, on a random 30% of the p * p pairs.

    OUT_DIR/                  (`attnlab grokking --out-dir`, default runs/grokking): a run folder
      config.json, tokenizer/, state.json, checkpoint-*/    as any GPT run: `attention`, `explain`,
                                                            `lens` and `generate` read it
      grokking.json           the lab's settings (p, train_fraction)
      metrics.jsonl           one line per evaluation: {"step", "train_loss", "test_loss",
                              "train_acc", "test_acc", "weight_norm", "frequency_norms": [K],
                              "key_frequencies", "key_share", "restricted_loss", "excluded_loss"}
      report.md, summary.json, grokking.png                 written at the end

The model is attnlab's own GPT, trained by the one loop (`attnlab.train.loop`): Ctrl-C saves and
stops, and running the command again with --resume continues exactly.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F

from attnlab.device import autocast, cpu_has_bf16
from attnlab.errors import UserError
from attnlab.io import load_json, save_json
from attnlab.labs.grokking.config import GrokConfig
from attnlab.labs.grokking.data import addition_table, train_mask
from attnlab.labs.grokking.fourier import (excluded_loss, fourier_basis, frequency_norms, key_frequencies,
                                           key_share, restricted_loss)
from attnlab.model.gpt import GPT
from attnlab.runs import checkpoint as ckpt
from attnlab.runs.metrics import MetricsWriter, truncate_metrics
from attnlab.tokenizers.numbers import NumberTokenizer
from attnlab.train.gpt import configure_optimizer
from attnlab.train.loop import LoopResult, Plan, get_lr, train_loop

EventFn = Callable[[str, dict[str, Any]], None]
LAB_FILE = "grokking.json"


@dataclass
class Task:
    """Every pair of Z_p, split: inputs (p*p, 3), labels (p*p,), is_train (p*p,)."""

    p: int
    inputs: torch.Tensor
    labels: torch.Tensor
    is_train: torch.Tensor

    @classmethod
    def make(cls, cfg: GrokConfig) -> "Task":
        inputs, labels = addition_table(cfg.p)
        return cls(cfg.p, inputs, labels, train_mask(cfg.p, cfg.train_fraction, cfg.seed))


def last_logits(model: GPT, inputs: torch.Tensor) -> torch.Tensor:
    """inputs (B, 3) -> the logits at '=' (B, V): only the last position's are computed."""
    logits, _ = model(inputs, last_only=True)  # (B, 1, V)
    return logits[:, -1]


def answer_loss(model: GPT, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """The loss the model trains on: cross-entropy of the answer at the last position."""
    inputs, labels = batch  # (B, 3), (B,)
    return F.cross_entropy(last_logits(model, inputs).float(), labels)


@torch.no_grad()
def measure(model: GPT, task: Task) -> dict[str, Any]:
    """One evaluation: losses and accuracies, the weight norm and the Fourier measures."""
    was_training = model.training
    model.eval()
    logits = last_logits(model, task.inputs).float()  # (p*p, V)
    model.train(was_training)
    losses = F.cross_entropy(logits, task.labels, reduction="none")  # (p*p,)
    correct = (logits.argmax(dim=-1) == task.labels).float()  # (p*p,)
    train, test = task.is_train, ~task.is_train
    norms = frequency_norms(model.token_embedding_table.weight[:task.p], fourier_basis(task.p)[0])  # (K,)
    keys = key_frequencies(norms)
    answers = logits[:, :task.p]  # (p*p, p): the '=' token is never an answer
    return {"train_loss": losses[train].mean().item(), "test_loss": losses[test].mean().item(),
            "train_acc": correct[train].mean().item(), "test_acc": correct[test].mean().item(),
            "weight_norm": math.sqrt(sum(p.detach().float().pow(2).sum().item() for p in model.parameters())),
            "frequency_norms": [round(v, 5) for v in norms.tolist()], "key_frequencies": keys,
            "key_share": key_share(norms, keys),
            "restricted_loss": restricted_loss(answers, task.labels, task.p, keys),
            "excluded_loss": excluded_loss(answers, task.labels, task.is_train, task.p, keys)}


def data_bytes(cfg: GrokConfig) -> int:
    """The part of a run's memory that grows with p * p: the table (inputs (p*p, 3) and labels as
    int64, a and b, the split's permutation, its mask) and an evaluation's (p*p, p+1) logits, about
    eight values each at the peak (their float copy, the Fourier parts restricted_loss keeps, the
    float64 copy its loss takes and that loss's softmax)."""
    pairs = cfg.p * cfg.p
    return pairs * (8 * (3 + 1 + 2 + 1) + 1) + 8 * pairs * (cfg.p + 1) * 4


def memory_bytes(cfg: GrokConfig) -> int:
    """What a run needs at its peak, estimated before anything is allocated: data_bytes, and the
    model trained full-batch on the training pairs (weights, AdamW state, activations: model/memory.py).

    >>> memory_bytes(GrokConfig()) < 10**9 < memory_bytes(GrokConfig(p=10007))
    True
    """
    from attnlab.model.memory import gpt_memory_bytes

    batch = int(cfg.train_fraction * cfg.p * cfg.p)  # every training pair, every step
    return data_bytes(cfg) + gpt_memory_bytes(cfg.model_config(), batch_size=batch, training=True, seq_len=3)


def check_memory(cfg: GrokConfig) -> None:
    """Refuse, in one line with the figures, a modulus whose table, evaluation or model cannot fit:
    the table first (a p whose training set is too large for a batch is refused by its size)."""
    from attnlab.model.memory import require_memory

    what = f"--p {cfg.p} (a table of {cfg.p * cfg.p} pairs, an evaluation's logits, the model)"
    hint = "pick a smaller prime (Nanda et al.'s is 113)"
    require_memory(data_bytes(cfg), what, hint=hint)
    require_memory(memory_bytes(cfg), what, hint=hint)


def training_dtype(dtype: str) -> str:
    """The dtype a step's matmuls run in: "auto" is bf16 where the CPU computes it natively (AVX-512
    BF16 or AMX: measured 1.7-2x faster a step here, benchmarks/README.md), else fp32. bf16 on a CPU
    without it trains, emulated and slow, as `attnlab train` does: the CLI says so in one line
    (`attnlab.device.bf16_warning`)."""
    if dtype == "auto":
        return "bf16" if cpu_has_bf16() else "fp32"
    return dtype


def start_run(cfg: GrokConfig, run_dir: Path, dtype: str) -> None:
    """config.json, tokenizer/ and grokking.json of a new run."""
    ckpt.save_run_config(run_dir, cfg.model_config(), cfg.train_config(dtype), NumberTokenizer(cfg.p))
    save_json(run_dir / LAB_FILE, asdict(cfg))


def check_resumable(cfg: GrokConfig, run_dir: Path) -> None:
    """A resumed run must have the same settings (only `steps` may grow, from the step it reached)."""
    if not (run_dir / LAB_FILE).is_file():
        raise UserError(f"{run_dir} is not a grokking run (no {LAB_FILE}): nothing to resume")
    saved = load_json(run_dir / LAB_FILE)
    if not isinstance(saved, dict):
        raise UserError(f"{run_dir / LAB_FILE} is not a grokking lab's settings file")
    saved.setdefault("dtype", "fp32")  # runs from before the setting trained in fp32
    differ = sorted(k for k, v in asdict(cfg).items() if k != "steps" and saved.get(k) != v)
    if differ:
        raise UserError(f"{run_dir} was trained with other settings ({', '.join(f'{k}={saved.get(k)!r}' for k in differ)})"
                        f"; give the same ones to resume, or --overwrite")
    reached = ckpt.read_state(run_dir)["step"] if (run_dir / ckpt.STATE).is_file() else 0
    if cfg.steps < reached:
        raise UserError(f"--steps {cfg.steps} is below the step {run_dir} reached ({reached}): give --steps "
                        f"{reached} or more to resume it")


def train_grokking(cfg: GrokConfig, run_dir: str | Path, resume: bool = False,
                   on_event: EventFn | None = None) -> tuple[GPT, LoopResult]:
    """Train (or continue) the lab's model in run_dir with the one loop -> (model in eval mode, result)."""
    run_dir, emit = Path(run_dir), on_event or (lambda kind, info: None)
    check_memory(cfg)
    dtype = training_dtype(cfg.dtype)
    task = Task.make(cfg)
    torch.manual_seed(cfg.seed)
    model = GPT(cfg.model_config())
    optimizer = configure_optimizer(model, cfg.train_config(dtype), torch.device("cpu"))
    step = 0
    if resume:
        check_resumable(cfg, run_dir)
        state, saved = ckpt.load_checkpoint(run_dir)
        ckpt.load_weights(model, ckpt.checkpoint_dir(run_dir) / ckpt.WEIGHTS)
        ckpt.restore_training_state(saved, optimizer, torch.device("cpu"))
        step = state["step"]
        truncate_metrics(run_dir, step)
    else:
        start_run(cfg, run_dir, dtype)
    emit("start", {"step": step, "max_iters": cfg.steps, "device": "cpu", "dtype": dtype,
                   "parameters": model.num_parameters()})
    batch = (task.inputs[task.is_train], task.labels[task.is_train])  # the whole training set, every step

    def save(at: int) -> None:
        ckpt.save_checkpoint(run_dir, model, ckpt.training_state(optimizer, torch.device("cpu")), {"step": at})

    plan = Plan(next_batch=lambda: batch, loss_fn=answer_loss,
                lr=lambda at: get_lr(at, cfg.lr, cfg.lr, cfg.warmup, cfg.steps), max_steps=cfg.steps,
                eval_interval=cfg.eval_interval, evaluate=lambda at: measure(model, task), save=save,
                start_step=step, resumed=resume, log_interval=0, plot=False)
    # bf16: the training step's matmuls under autocast; evaluations stay in fp32 (measure)
    result = train_loop(model, optimizer, plan, MetricsWriter(run_dir, enabled=True),
                        precision=autocast(torch.device("cpu"), dtype), run_dir=run_dir, emit=emit)
    return model.eval(), result
