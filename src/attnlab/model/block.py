"""The transformer block: attention, then feed-forward, each wrapped in a residual and a LayerNorm.

pre-LN (seed 001, GPT-2):   x = x + attn(ln1(x));   x = x + ffwd(ln2(x))
post-LN (seed 003, BERT):   x = ln1(x + attn(x));   x = ln2(x + ffwd(x))

Input and output are both (B, T, C), so blocks stack like Lego.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from attnlab.model.attention import MultiHeadAttention
from attnlab.model.feedforward import FeedForward
from attnlab.model.kv_cache import KVCache

NORMS = ("pre", "post")


def check_norm(norm: str) -> str:
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; choose 'pre' (seed 001, GPT-2) or 'post' (seed 003, BERT)")
    return norm


class Block(nn.Module):
    """One self-attention block: (B, T, C) -> (B, T, C)."""

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        d_ff: int | None = None,
        activation: str = "relu",
        norm: str = "pre",
        causal: bool = True,
        dropout: float = 0.0,
        bias: bool = True,
        qkv_bias: bool | None = None,
        layer_norm_eps: float = 1e-5,
    ):
        super().__init__()
        self.norm = check_norm(norm)
        self.ln1 = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.attn = MultiHeadAttention(d_model, n_heads, causal=causal, bias=bias, qkv_bias=qkv_bias, dropout=dropout)
        self.ln2 = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.ffwd = FeedForward(d_model, d_ff, activation=activation, dropout=dropout, bias=bias)
        self.drop = nn.Dropout(dropout)

    def forward(
        self,
        x: torch.Tensor,
        key_padding_mask: torch.Tensor | None = None,
        kv_cache: KVCache | None = None,
    ) -> torch.Tensor:
        if self.norm == "pre":
            x = x + self.drop(self.attn(self.ln1(x), key_padding_mask=key_padding_mask, kv_cache=kv_cache))
            x = x + self.ffwd(self.ln2(x))
        else:
            x = self.ln1(x + self.drop(self.attn(x, key_padding_mask=key_padding_mask, kv_cache=kv_cache)))
            x = self.ln2(x + self.ffwd(x))
        return x  # (B, T, C)
