"""Sinusoidal positional encoding (seed 002): attention has no notion of order, so each
position gets its own fixed wave pattern added to the embedding.

    PE[pos, 2i]   = sin(pos / 10000^(2i / d_model))
    PE[pos, 2i+1] = cos(pos / 10000^(2i / d_model))

Low dimensions oscillate fast (dimension 0 has period 2π positions), high ones slowly, so
every position gets a distinct pattern and nearby positions get similar ones.

>>> pe = sinusoidal_table(max_len=2, d_model=4)
>>> [round(x, 3) for x in pe[0].tolist()], [round(x, 3) for x in pe[1].tolist()]
([0.0, 1.0, 0.0, 1.0], [0.841, 0.54, 0.01, 1.0])
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
from attnlab.errors import UserError


def sinusoidal_table(max_len: int, d_model: int) -> torch.Tensor:
    """The (max_len, d_model) table, computed exactly as seed 002 does (sin even, cos odd)."""
    if d_model < 2 or d_model % 2 != 0:
        raise UserError(f"d_model ({d_model}) must be even for sin/cos pairs")
    if max_len < 1:
        raise UserError(f"max_len must be a positive integer, got {max_len}")
    position = torch.arange(max_len).unsqueeze(1)  # (max_len, 1)
    div_term = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))  # (C/2,)
    pe = torch.zeros(max_len, d_model)
    pe[:, 0::2] = torch.sin(position * div_term)  # (max_len, C/2)
    pe[:, 1::2] = torch.cos(position * div_term)  # (max_len, C/2)
    return pe


class SinusoidalPositionalEncoding(nn.Module):
    """x (B, T, C) -> x + PE[:T]  (batch first; the table is a buffer, not a parameter).

    Seed 002 stores the table as (max_len, 1, C) and transposes it for batch-first inputs;
    here it is stored batch-first, (1, max_len, C), which is the same numbers.
    """

    def __init__(self, d_model: int, max_len: int = 5000):
        super().__init__()
        self.register_buffer("pe", sinusoidal_table(max_len, d_model).unsqueeze(0), persistent=False)  # (1, L, C)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        T = x.size(1)
        if T > self.pe.size(1):
            raise UserError(f"sequence length {T} exceeds the positional table's max_len {self.pe.size(1)}")
        return x + self.pe[:, :T]  # (B, T, C)


class SinusoidalPositionTable(nn.Module):
    """The sinusoidal table as a GPT's position encoding: positions (T,) -> their rows (T, C).

    Called as the learned table (an nn.Embedding) is, and its rows are in `weight` as an
    embedding's are; but the table is fixed (a buffer, not a parameter: nothing to train or save).
    """

    def __init__(self, max_len: int, d_model: int):
        super().__init__()
        self.register_buffer("weight", sinusoidal_table(max_len, d_model), persistent=False)  # (L, C)

    def forward(self, pos: torch.Tensor) -> torch.Tensor:
        return self.weight[pos]  # (T, C)
