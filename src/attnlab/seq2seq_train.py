"""Training an encoder-decoder: one explicit loop, and plain-data checkpoints.

Every step of the loop is visible: get a batch (the task hook), forward with teacher forcing,
loss, backward, clip, learning rate, optimizer step, report. The task decides what a batch is
(`get_batch(step)`); the loop does not know about copy, sort or seed 002's regression.

A run folder holds `config.json` ({"kind": "seq2seq", "model": Seq2SeqConfig, "task": ...,
"train": ...}), `model.safetensors`, `optimizer.pt` and `state.json` ({"step": ...}).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn as nn

from attnlab.config import Seq2SeqConfig
from attnlab.io import load_json, load_tensors, load_torch, save_json, save_tensors, save_torch
from attnlab.model.seq2seq import EncoderDecoder
from attnlab.seq2seq_tasks import Seq2SeqBatch

KIND = "seq2seq"


def get_lr(step: int, lr: float, steps: int, warmup: int = 0, decay: bool = True) -> float:
    """Linear warmup over `warmup` steps, then cosine decay to lr/10 at `steps` (or constant).

    >>> get_lr(0, 1.0, 100, warmup=10), get_lr(10, 1.0, 100, warmup=10), get_lr(100, 1.0, 100, warmup=10)
    (0.1, 1.0, 0.1)
    """
    if step < warmup:
        return lr * (step + 1) / warmup
    if not decay or steps <= warmup:
        return lr
    progress = min(1.0, (step - warmup) / (steps - warmup))
    return lr * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * progress)))


def train_seq2seq(
    model: EncoderDecoder,
    get_batch: Callable[[int], Seq2SeqBatch],
    steps: int,
    lr: float,
    optimizer: torch.optim.Optimizer | None = None,
    start_step: int = 0,
    warmup: int = 0,
    decay: bool = True,
    grad_clip: float | None = 1.0,
    on_step: Callable[[int, float], None] | None = None,
) -> torch.optim.Optimizer:
    """Train from `start_step` up to `steps`; on_step(step, loss) after every step -> the optimizer.

    `get_batch(step)` is the task hook: a Seq2SeqBatch (token tasks) or any object with
    src, tgt_in, labels and optional src_pad/tgt_pad (seed 002's regression: the same batch
    every step, labels the target values).
    """
    if optimizer is None:
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for step in range(start_step, steps):
        batch = get_batch(step)
        _, loss = model(batch.src, batch.tgt_in, batch.labels, src_key_padding_mask=batch.src_pad,
                        tgt_key_padding_mask=batch.tgt_pad)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        for group in optimizer.param_groups:
            group["lr"] = get_lr(step, lr, steps, warmup, decay)
        optimizer.step()
        if on_step is not None:
            on_step(step, loss.item())
    model.eval()
    return optimizer


def save_checkpoint(run_dir: str | Path, model: EncoderDecoder, optimizer: torch.optim.Optimizer,
                    step: int, task: dict[str, Any], train: dict[str, Any],
                    state: dict[str, Any] | None = None) -> None:
    """Write the run folder; each file atomically, config last but one, state last."""
    run_dir = Path(run_dir)
    save_tensors(run_dir / "model.safetensors", model.state_dict())
    save_torch(run_dir / "optimizer.pt", optimizer.state_dict())
    save_json(run_dir / "config.json", {"kind": KIND, "model": model.config.to_dict(), "task": task, "train": train})
    save_json(run_dir / "state.json", {"step": step, **(state or {})})


def read_run_config(run_dir: str | Path) -> dict[str, Any]:
    """config.json of a seq2seq run; another kind of run (e.g. a GPT) is a one-line ValueError."""
    config = load_json(Path(run_dir) / "config.json")
    if not isinstance(config, dict) or config.get("kind") != KIND:
        kind = config.get("kind") if isinstance(config, dict) else None
        raise ValueError(f"{run_dir} holds a {kind!r} checkpoint, not a {KIND!r} one")
    return config


def load_checkpoint(run_dir: str | Path, lr: float = 1e-3) -> tuple[EncoderDecoder, torch.optim.Optimizer, dict, dict]:
    """-> (model, optimizer, config.json dict, state.json dict), for resuming or evaluating."""
    run_dir = Path(run_dir)
    config = read_run_config(run_dir)
    model = EncoderDecoder(Seq2SeqConfig.from_dict(config["model"]))
    tensors = load_tensors(run_dir / "model.safetensors")
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    if missing or unexpected:
        raise ValueError(f"{run_dir}/model.safetensors does not match its config "
                         f"(missing {len(missing)}, unexpected {len(unexpected)} tensors)")
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    optimizer.load_state_dict(load_torch(run_dir / "optimizer.pt"))
    state = load_json(run_dir / "state.json")
    model.eval()
    return model, optimizer, config, state


def train_plus2_regression(epochs: int = 500, lr: float = 1e-3, config: Seq2SeqConfig | None = None,
                           on_step: Callable[[int, float], None] | None = None,
                           ) -> tuple[EncoderDecoder, torch.optim.Optimizer, dict]:
    """Seed 002's program with our parts: full-batch Adam on one sequence, epochs 0..`epochs`
    (so epochs + 1 updates, as the seed's `range(epochs + 1)`), constant lr, no clipping.

    -> (model in eval mode, its optimizer, {"src", "target", "teacher_forced", "autoregressive"} as lists).
    teacher_forced is what the seed prints: the decoder is given the true previous targets.
    autoregressive feeds the decoder its own previous predictions, starting from 0.
    """
    from attnlab.seq2seq_tasks import plus2_regression_data

    src, tgt, target = plus2_regression_data()  # (1, 5, 1) each
    model = EncoderDecoder(config or Seq2SeqConfig())
    batch = Seq2SeqBatch(src, None, tgt, None, target, torch.tensor([src.shape[1]]))
    optimizer = train_seq2seq(model, lambda step: batch, steps=epochs + 1, lr=lr, decay=False, grad_clip=None,
                              on_step=on_step)
    with torch.no_grad():
        teacher_forced, _ = model(src, tgt)  # (1, 5, 1)
        autoregressive = model.greedy_decode(src, 0.0, src.shape[1])  # (1, 5, 1)
    return model, optimizer, {"src": src.view(-1).tolist(), "target": target.view(-1).tolist(),
                   "teacher_forced": teacher_forced.view(-1).tolist(),
                   "autoregressive": autoregressive.view(-1).tolist()}
