"""A point's activations over a run's own text, through `attnlab.record` (the real forward).

`windows(run_dir, tokenizer, split, tokens)` draws windows of the run's training (or validation)
text as training drew its batches; `collect(model, point, x)` runs them through the model and
keeps the point's value at every token: (N, d), one row per token. A point must hold one vector
per token, (B, T, d): `blocks.0.ffwd.hidden` (d_ff), `blocks.2.out` (d_model); attention
weights (B, H, T, T) are refused.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn as nn

from attnlab.errors import UserError
from attnlab.look.hooks import record, select
from attnlab.runs import checkpoint as ckpt
from attnlab.train.gpt import split_batches


def check_point(model: nn.Module, point: str) -> int:
    """The width d of `point` (one exact name, one vector per token); anything else is a UserError."""
    if not isinstance(point, str) or any(c in point for c in "*?"):
        raise UserError(f"--point must name one point, not a pattern, got {point!r}")
    select(model, [point])  # a point that does not exist: the error lists the names
    device = next(model.parameters()).device
    with torch.no_grad(), record(model, point) as rec:
        model(torch.zeros(1, 2, dtype=torch.long, device=device))
    shape = tuple(rec[point].shape)
    if len(shape) != 3 or shape[:2] != (1, 2):
        raise UserError(f"{point} is not one vector per token: its value has shape {shape} for 1 text of 2 "
                        f"tokens, an SAE needs (B, T, d) (try blocks.0.ffwd.hidden or blocks.0.out)")
    return shape[2]


def windows(run_dir: str | Path, tokenizer, split: str, tokens: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random windows of the run's own `split` text ("train" or "val") holding at least `tokens`
    tokens: x (W, T) ids and y (W, T) the next tokens, T the run's block size."""
    batches, _ = drawn(run_dir, tokens)
    return split_batches(run_dir, tokenizer, split, batches, seed=seed)  # (batches · B, T) each


def drawn(run_dir: str | Path, tokens: int) -> tuple[int, int]:
    """(batches, tokens they hold): the whole batches of the run (its config.json's batch_size ×
    block_size) that `windows` draws to hold at least `tokens` tokens."""
    _, cfg, _ = ckpt.read_run_config(run_dir)
    per_batch = cfg.batch_size * cfg.block_size
    batches = max(1, math.ceil(tokens / per_batch))
    return batches, batches * per_batch


@torch.no_grad()
def collect(model: nn.Module, point: str, x: torch.Tensor, batch: int = 64) -> torch.Tensor:
    """x (W, T) ids -> the point's activations (W · T, d), float32 on the CPU."""
    device = next(model.parameters()).device
    rows = []
    with record(model, point) as rec:
        for start in range(0, len(x), batch):
            model(x[start:start + batch].to(device))
            value = rec[point]  # (b, T, d)
            rows.append(value.reshape(-1, value.shape[-1]).float().cpu())
    return torch.cat(rows)
