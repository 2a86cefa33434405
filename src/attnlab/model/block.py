"""The transformer block: attention, then feed-forward, each wrapped in a residual and a LayerNorm.

pre-LN (seed 001, GPT-2):   x = x + attn(ln1(x));   x = x + ffwd(ln2(x))
post-LN (seed 003, BERT):   x = ln1(x + attn(x));   x = ln2(x + ffwd(x))

Input and output are both (B, T, C), so blocks stack like Lego.

Three switches take parts away, one rung of the ablation ladder (`attnlab.ladder`) each:
`ffn=False` (attention-only: no ffwd, no ln2), `residual=False` (x = attn(ln1(x)): no "x +"),
`norm="none"` (no LayerNorm: ln1 and ln2 are identities); `attn_proj=False` drops W_O.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from attnlab.model.attention import MultiHeadAttention
from attnlab.model.feedforward import FeedForward
from attnlab.model.kv_cache import KVCache

NORMS = ("pre", "post", "none")


def check_norm(norm: str, choices: tuple[str, ...] = NORMS) -> str:
    if norm not in choices:
        raise ValueError(f"unknown norm {norm!r}; choose one of {', '.join(choices)} (pre: seed 001, GPT-2; "
                         f"post: seed 003, BERT; none: no LayerNorm)")
    return norm


def make_norm(norm: str, d_model: int, eps: float = 1e-5, bias: bool = True) -> nn.Module:
    """A LayerNorm, or an identity when norm="none" (the lecture's blocks before its LayerNorm step)."""
    return nn.Identity() if check_norm(norm) == "none" else nn.LayerNorm(d_model, eps=eps, bias=bias)


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
        ffn: bool = True,
        residual: bool = True,
        attn_proj: bool = True,
    ):
        super().__init__()
        self.norm = check_norm(norm)
        self.residual = residual
        self.ln1 = make_norm(norm, d_model, layer_norm_eps, bias)
        self.attn = MultiHeadAttention(d_model, n_heads, causal=causal, bias=bias, qkv_bias=qkv_bias, dropout=dropout,
                                       proj=attn_proj)
        # ffn=False: an attention-only block (the lecture before its feed-forward step)
        self.ln2 = make_norm(norm, d_model, layer_norm_eps, bias) if ffn else None
        self.ffwd = FeedForward(d_model, d_ff, activation=activation, dropout=dropout, bias=bias) if ffn else None
        self.drop = nn.Dropout(dropout)

    def forward(
        self,
        x: torch.Tensor,
        key_padding_mask: torch.Tensor | None = None,
        kv_cache: KVCache | None = None,
    ) -> torch.Tensor:
        # residual=False: each sublayer's output replaces x (the lecture before its residual step)
        skip = (lambda h: h) if self.residual else (lambda h: 0.0)
        if self.norm != "post":  # pre-LN; with norm="none" ln1 and ln2 are identities
            x = skip(x) + self.drop(self.attn(self.ln1(x), key_padding_mask=key_padding_mask, kv_cache=kv_cache))
            if self.ffwd is not None:  # ffn=False: attention-only
                x = skip(x) + self.ffwd(self.ln2(x))
        else:
            x = self.ln1(skip(x) + self.drop(self.attn(x, key_padding_mask=key_padding_mask, kv_cache=kv_cache)))
            if self.ffwd is not None:
                x = self.ln2(skip(x) + self.ffwd(x))
        return x  # (B, T, C)
