"""The position-wise feed-forward network: widen, nonlinearity, narrow (seed 001: 64 → 256 → 64)."""

from __future__ import annotations

import torch
import torch.nn as nn

from attnlab.model.points import Points


class FeedForward(nn.Module):
    """x (B, T, C) -> up (B, T, d_ff) -> act -> down (B, T, C) -> dropout.

    `act` is the activation module it is handed (None: nn.ReLU, seed 001's; `components.make_activation`
    makes one from its name). Named points: `hidden` (B, T, d_ff) after the activation, `out` (B, T, C).
    """

    def __init__(self, d_model: int, d_ff: int | None = None, act: nn.Module | None = None,
                 dropout: float = 0.0, bias: bool = True):
        super().__init__()
        d_ff = 4 * d_model if d_ff is None else d_ff
        self.up = nn.Linear(d_model, d_ff, bias=bias)
        self.act = nn.ReLU() if act is None else act
        self.down = nn.Linear(d_ff, d_model, bias=bias)
        self.drop = nn.Dropout(dropout)
        self.points = Points("hidden", "out")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.points.hidden(self.act(self.up(x)))  # (B, T, d_ff)
        return self.points.out(self.drop(self.down(h)))  # (B, T, C)
