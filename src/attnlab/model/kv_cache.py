"""A preallocated key/value cache for one attention layer.

Generating token t+1 needs the keys and values of tokens 0..t. They do not change once
computed (a causal model never lets the past see the future), so each layer keeps them in a
(B, H, T_max, D) buffer and only the newest token is projected at each step.
"""

from __future__ import annotations

import torch
from attnlab.errors import UserError


class KVCache:
    """Keys and values of one layer: two (B, H, max_len, D) buffers and a fill level."""

    def __init__(self, batch_size: int, n_heads: int, max_len: int, d_head: int,
                 device: torch.device | str | None = None, dtype: torch.dtype = torch.float32):
        self.k = torch.zeros(batch_size, n_heads, max_len, d_head, device=device, dtype=dtype)
        self.v = torch.zeros(batch_size, n_heads, max_len, d_head, device=device, dtype=dtype)
        self.length = 0  # how many positions are filled

    @property
    def max_len(self) -> int:
        return self.k.shape[2]

    def append(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store k, v (B, H, T, D) after what is cached; return all of it, (B, H, length, D)."""
        T = k.shape[2]
        end = self.length + T
        if end > self.max_len:
            raise UserError(f"KV cache is full: {self.length} + {T} tokens > max_len {self.max_len}")
        self.k[:, :, self.length:end] = k
        self.v[:, :, self.length:end] = v
        self.length = end
        return self.k[:, :, :end], self.v[:, :, :end]

    def reset(self) -> None:
        self.length = 0
