"""The transformer block: attention, then feed-forward, each wrapped in a residual and a LayerNorm.

pre-LN (seed 001, GPT-2):   x = x + attn(ln1(x));   x = x + ffwd(ln2(x))
post-LN (seed 003, BERT):   x = ln1(x + attn(x));   x = ln2(x + ffwd(x))

Input and output are both (B, T, C), so blocks stack like Lego. The choice between the two is
made in one place, `residual`, which every block (here and in the encoder-decoder) calls.

Named points of a block (`blocks.{i}.` + name), all (B, T, C) unless said:
    name         pre-LN                          post-LN
    ln1          ln1(x): attention's input       ln1(resid_mid): the FFN's input
    attn.*       see MultiHeadAttention          (attention reads x itself)
    resid_mid    x + attn.out                    x + attn.out (before ln1)
    ln2          ln2(resid_mid): the FFN's input ln2(ln1 + ffwd.out) = the block's output
    ffwd.hidden  (B, T, d_ff) after the activation
    ffwd.out     the FFN's output (after its dropout)
    out          resid_mid + ffwd.out            ln2 (the same value, passed on after ln2)
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn

from attnlab.model.attention import MultiHeadAttention
from attnlab.model.feedforward import FeedForward
from attnlab.model.kv_cache import KVCache
from attnlab.model.points import Point, Points

NORMS = ("pre", "post")


def check_norm(norm: str) -> str:
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; choose 'pre' (seed 001, GPT-2) or 'post' (seed 003, BERT)")
    return norm


def residual(x: torch.Tensor, sublayer: Callable[[torch.Tensor], torch.Tensor], norm: nn.Module,
             norm_point: Point, sum_point: Point | None, pre_norm: bool) -> torch.Tensor:
    """One sublayer with its residual connection and LayerNorm: (B, T, C) -> (B, T, C).

    pre-LN:  sum_point(x + sublayer(norm_point(norm(x))))
    post-LN: norm_point(norm(sum_point(x + sublayer(x))))
    """
    if pre_norm:
        s = x + sublayer(norm_point(norm(x)))
        return s if sum_point is None else sum_point(s)
    s = x + sublayer(x)
    return norm_point(norm(s if sum_point is None else sum_point(s)))


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
        self.pre_norm = norm == "pre"
        self.ln1 = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.attn = MultiHeadAttention(d_model, n_heads, causal=causal, bias=bias, qkv_bias=qkv_bias, dropout=dropout)
        self.ln2 = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.ffwd = FeedForward(d_model, d_ff, activation=activation, dropout=dropout, bias=bias)
        self.drop = nn.Dropout(dropout)
        self.points = Points("ln1", "resid_mid", "ln2", "out")

    def forward(
        self,
        x: torch.Tensor,
        key_padding_mask: torch.Tensor | None = None,
        kv_cache: KVCache | None = None,
    ) -> torch.Tensor:
        def attn(h: torch.Tensor) -> torch.Tensor:
            return self.drop(self.attn(h, key_padding_mask=key_padding_mask, kv_cache=kv_cache))

        p = self.points
        x = residual(x, attn, self.ln1, p.ln1, p.resid_mid, self.pre_norm)
        x = residual(x, self.ffwd, self.ln2, p.ln2, None, self.pre_norm)
        return p.out(x)  # (B, T, C)
