"""The transformer block: attention, then feed-forward, each wrapped in a residual and a LayerNorm.

pre-LN (seed 001, GPT-2):   x = x + attn(ln1(x));   x = x + ffwd(ln2(x))
post-LN (seed 003, BERT):   x = ln1(x + attn(x));   x = ln2(x + ffwd(x))

Input and output are both (B, T, C), so blocks stack like Lego. The choice between the two is
made in one place, `residual`, which every block (here and in the encoder-decoder) calls. A block
is handed its parts (attention, feed-forward layer, norms): `components.make_block` builds them
from a config's names, so a new kind of part changes no block.

Named points of a block (`blocks.{i}.` + name), all (B, T, C) unless said:
    name         pre-LN                          post-LN
    ln1          ln1(x): attention's input       ln1(resid_mid): the FFN's input
    attn.*       see MultiHeadAttention          (attention reads x itself)
    resid_mid    x + attn.out                    x + attn.out (before ln1)
    ln2          ln2(resid_mid): the FFN's input ln2(ln1 + ffwd.out) = the block's output
    ffwd.hidden  (B, T, d_ff) after the activation
    ffwd.out     the FFN's output (after its dropout)
    out          resid_mid + ffwd.out            ln2 (the same value, passed on after ln2)

Four switches take parts away, one rung of the ablation ladder (`attnlab.labs.ladder.rungs`) each:
`ffn=False` (attention-only: no ffwd, no ln2), `residual=False` (no "x +": each sublayer's output
replaces x), `norm="none"` (no LayerNorm: ln1 and ln2 are identities, the pre-LN path) and
`attn_proj=False` (no W_O).

`last_only=True` (a switch of `forward`) computes the last position's output only: ln1 still
covers every position (the keys and values need them), resid_mid, ln2, ffwd.* and out are (B, 1, ...).
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn

from attnlab.model.kv_cache import KVCache
from attnlab.model.points import Point, Points


def residual(x: torch.Tensor, sublayer: Callable[[torch.Tensor], torch.Tensor], norm: nn.Module,
             norm_point: Point, sum_point: Point | None, pre_norm: bool, add_x: bool = True,
             last_only: bool = False) -> torch.Tensor:
    """One sublayer with its residual connection and LayerNorm: (B, T, C) -> (B, T, C).

    pre-LN:  sum_point(x + sublayer(norm_point(norm(x))))
    post-LN: norm_point(norm(sum_point(x + sublayer(x))))
    add_x=False drops the `x +` (the lecture before its residual step). last_only=True: the
    sublayer returns the last position only (B, 1, C), and so is x's part of the sum.
    """
    skip = (x[:, -1:] if last_only else x) if add_x else 0.0
    if pre_norm:
        s = skip + sublayer(norm_point(norm(x)))
        return s if sum_point is None else sum_point(s)
    s = skip + sublayer(x)
    return norm_point(norm(s if sum_point is None else sum_point(s)))


class Block(nn.Module):
    """One self-attention block: (B, T, C) -> (B, T, C), made of the parts it is handed.

    attn       the attention (a `MultiHeadAttention`)
    ffwd       the feed-forward layer (a `FeedForward`), or None: an attention-only block
    ln1, ln2   the norms (nn.LayerNorm; nn.Identity for none); ln2 is None without ffwd
    pre_norm   True: each norm before its sublayer (pre-LN); False: after the sum (post-LN)
    residual   True: x + sublayer(...); False: the sublayer's output replaces x
    `components.make_block` builds one from the names a config gives.
    """

    def __init__(self, attn: nn.Module, ffwd: nn.Module | None, ln1: nn.Module, ln2: nn.Module | None,
                 pre_norm: bool = True, residual: bool = True, dropout: float = 0.0):
        super().__init__()
        self.pre_norm = pre_norm
        self.residual = residual
        self.ln1 = ln1
        self.attn = attn
        self.ln2 = ln2
        self.ffwd = ffwd
        self.drop = nn.Dropout(dropout)
        self.points = Points("ln1", "resid_mid", "ln2", "out")

    def forward(
        self,
        x: torch.Tensor,
        key_padding_mask: torch.Tensor | None = None,
        kv_cache: KVCache | None = None,
        last_only: bool = False,
    ) -> torch.Tensor:
        """x (B, T, C) -> (B, T, C). last_only=True -> (B, 1, C), the last position's output only:
        its query attends over every key, and the feed-forward layer runs at that position alone
        (a last block whose other positions nothing reads)."""
        def attn(h: torch.Tensor) -> torch.Tensor:
            out = self.attn(h, key_padding_mask=key_padding_mask, kv_cache=kv_cache, last_query=last_only)
            return self.drop(out)

        p = self.points
        x = residual(x, attn, self.ln1, p.ln1, p.resid_mid, self.pre_norm, self.residual, last_only)
        if self.ffwd is not None:  # ffn=False: attention-only
            x = residual(x, self.ffwd, self.ln2, p.ln2, None, self.pre_norm, self.residual)
        return p.out(x)  # (B, T, C)
