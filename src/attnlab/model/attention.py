"""Attention: the formula, one head, and multi-head attention in the seeds' two forms.

    Attention(Q, K, V) = softmax(Q Kᵀ · scale) V,   scale = 1/sqrt(d_k) unless given

Shape letters: B batch, T query length, S key length, C = d_model, H heads, D = d_head.

- `attention`            the formula as one pure function (`attention_scores`, then
                         `attention_weights`); everything else goes through it (or through
                         `F.scaled_dot_product_attention`, tested equal to it).
- `Head`                 seed 001's single head: key/query/value Linear, causal mask, wei @ v.
- `ConcatHeadsAttention` seed 001/002's multi-head form: a ModuleList of `Head`, torch.cat, proj.
- `MultiHeadAttention`   seed 003's fused form: one qkv projection, view → transpose to
                         (B, H, T, D), attention per head, concat, W_O. The models use this one;
                         its intermediates are named points (q, k, v, scores, weights, z, out).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from attnlab.model.kv_cache import KVCache
from attnlab.model.masks import causal_mask, combined_mask
from attnlab.model.points import Points
from attnlab.errors import UserError


def attention_scores(
    q: torch.Tensor, k: torch.Tensor, mask: torch.Tensor | None = None, scale: float | None = None
) -> torch.Tensor:
    """q·kᵀ·scale with the mask applied: q (..., T, D), k (..., S, D) -> scores (..., T, S).

    `scale=None` is 1/sqrt(D). `mask` broadcasts to (..., T, S): boolean (True = may attend,
    False becomes -inf) or additive float (0 = attend, -inf = blocked).
    """
    if q.shape[-1] != k.shape[-1]:
        raise UserError(f"q and k must have the same last dimension, got {q.shape[-1]} and {k.shape[-1]}")
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[-1])
    scores = q @ k.transpose(-2, -1) * scale  # (..., T, S)
    if mask is None:
        return scores
    if mask.dtype == torch.bool:
        return scores.masked_fill(~mask, float("-inf"))
    return scores + mask


def attention_weights(scores: torch.Tensor) -> torch.Tensor:
    """softmax over the keys: (..., T, S) -> (..., T, S), every row sums to 1, except a row whose
    every score is -inf (no key to attend to): its weights are all 0, not NaN.

    >>> attention_weights(torch.tensor([[0., 0.], [float("-inf"), float("-inf")]])).tolist()
    [[0.5, 0.5], [0.0, 0.0]]
    """
    weights = F.softmax(scores, dim=-1)  # (..., T, S)
    blocked = torch.isneginf(scores).all(dim=-1, keepdim=True)  # rows with no key to attend to
    return weights.masked_fill(blocked, 0.0)


def attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    scale: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(q·kᵀ·scale)·v, returning `(out, weights)`.

    q (..., T, D), k (..., S, D), v (..., S, Dv) -> out (..., T, Dv), weights (..., T, S).

    `scale=None` is 1/sqrt(D); `scale=1.0` is the unscaled form seed 004 computes by hand.
    `mask` broadcasts to (..., T, S): boolean (True = may attend) or additive float
    (0 = attend, -inf = blocked). A row whose every key is masked has nothing to attend to:
    its weights are all 0 and its output is 0 (not NaN). The two steps are
    `attention_scores` and `attention_weights`.

    Seed 004, "나는 사과를 먹었다", the row of 나는:
    >>> q = torch.tensor([[1., 0, 0]])
    >>> k = torch.tensor([[1., 1, 0], [1, 0, 1], [0, 1, 1]])
    >>> v = torch.tensor([[.5, 0, 0], [0, .5, 0], [0, 0, .5]])
    >>> out, w = attention(q, k, v, scale=1.0)
    >>> [round(x, 3) for x in w[0].tolist()], [round(x, 3) for x in out[0].tolist()]
    ([0.422, 0.422, 0.155], [0.211, 0.211, 0.078])
    """
    if k.shape[-2] != v.shape[-2]:
        raise UserError(f"k and v must have the same length, got {k.shape[-2]} and {v.shape[-2]}")
    weights = attention_weights(attention_scores(q, k, mask, scale))  # (..., T, S)
    return weights @ v, weights  # (..., T, Dv), (..., T, S)


class Head(nn.Module):
    """One head of self-attention (seed 001): x (B, T, C) -> (B, T, d_head)."""

    def __init__(self, d_model: int, d_head: int, causal: bool = True, bias: bool = False):
        super().__init__()
        self.causal = causal
        self.key = nn.Linear(d_model, d_head, bias=bias)
        self.query = nn.Linear(d_model, d_head, bias=bias)
        self.value = nn.Linear(d_model, d_head, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        k = self.key(x)  # (B, T, D)
        q = self.query(x)  # (B, T, D)
        v = self.value(x)  # (B, T, D)
        mask = causal_mask(T, device=x.device) if self.causal else None
        out, wei = attention(q, k, v, mask=mask)  # (B, T, D), (B, T, T)
        return out


class ConcatHeadsAttention(nn.Module):
    """Multi-head attention as seed 001 writes it: n_heads `Head`s side by side, then mix.

    "Split 64 into four 16s (Linear), attend each (Attention), glue (cat), mix (proj)."
    x (B, T, C) -> each head (B, T, C / H) -> cat (B, T, C) -> proj (B, T, C).
    """

    def __init__(self, d_model: int, n_heads: int, causal: bool = True, bias: bool = False):
        super().__init__()
        if d_model % n_heads != 0:
            raise UserError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads})")
        d_head = d_model // n_heads
        self.heads = nn.ModuleList([Head(d_model, d_head, causal=causal, bias=bias) for _ in range(n_heads)])
        self.proj = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.cat([h(x) for h in self.heads], dim=-1)  # (B, T, C)
        return self.proj(out)  # (B, T, C)


class MultiHeadAttention(nn.Module):
    """Fused multi-head attention (seed 003), for self- and cross-attention.

    One `qkv` Linear(C, 3C) holds W_Q, W_K, W_V stacked in that order (the layout of
    `torch.nn.MultiheadAttention.in_proj_weight` and of GPT-2's `c_attn`, transposed); `proj`
    is W_O (an identity with `proj=False`). Self-attention projects x three ways; cross-attention
    (`memory=` given) takes the queries from x and the keys and values from memory.

    Named points (`attnlab.record`, `attnlab.intervene`), below this module's path:
        q, k, v   (B, H, T, D)  after the head split; with a KV cache, the new positions only
                                (what `intervene` returns is what the cache stores); with
                                last_query, q and everything after it have T = 1
        scores    (B, H, T, S)  q·kᵀ/√D, masked (-inf), before softmax
        weights   (B, H, T, S)  softmax(scores), before dropout
        z         (B, T, H, D)  each head's output, before W_O
        out       (B, T, C)     after W_O

    Two paths give the same output: the fast one (`self.sdpa`: `F.scaled_dot_product_attention`,
    which never materialises scores or weights) and the explicit one (`attention_scores`,
    `attention_weights`). The explicit path runs when `use_sdpa` is False or when something is
    attached to `scores` or `weights`; the other points leave the fast path in place.
    """

    def __init__(self, d_model: int, n_heads: int, causal: bool = False, bias: bool = True,
                 qkv_bias: bool | None = None, dropout: float = 0.0, proj: bool = True):
        super().__init__()
        if d_model % n_heads != 0:
            raise UserError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads})")
        self.d_model = d_model
        self.n_heads = n_heads
        self.d_head = d_model // n_heads
        self.causal = causal
        self.dropout = dropout
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=bias if qkv_bias is None else qkv_bias)
        # proj=False: no W_O, the concatenated heads are the output (the lecture before its residual step)
        self.proj = nn.Linear(d_model, d_model, bias=bias) if proj else nn.Identity()
        self.use_sdpa = True
        self.sdpa = F.scaled_dot_product_attention  # the fast path's kernel (attnlab.fast may hand in another)
        self.points = Points("q", "k", "v", "scores", "weights", "z", "out")

    def project_qkv(
        self, x: torch.Tensor, memory: torch.Tensor | None = None, last_query: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Q from x, K and V from memory (or x), each split into heads: (B, H, T or S, D).
        last_query=True: Q from x's last position only, (B, H, 1, D)."""
        B, T, C = x.shape
        if C != self.d_model:
            raise UserError(f"input width {C} does not match d_model {self.d_model}")
        if memory is None and not last_query:
            q, k, v = self.qkv(x).split(C, dim=-1)  # 3 x (B, T, C)
        else:
            w_q, w_kv = self.qkv.weight.split([C, 2 * C], dim=0)
            b_q, b_kv = (None, None) if self.qkv.bias is None else self.qkv.bias.split([C, 2 * C])
            q = F.linear(x[:, -1:] if last_query else x, w_q, b_q)  # (B, T or 1, C)
            k, v = F.linear(x if memory is None else memory, w_kv, b_kv).split(C, dim=-1)  # 2 x (B, S, C)
        H, D = self.n_heads, self.d_head
        q = q.view(B, q.shape[1], H, D).transpose(1, 2)  # (B, H, T, D)
        k = k.view(B, k.shape[1], H, D).transpose(1, 2)  # (B, H, S, D)
        v = v.view(B, v.shape[1], H, D).transpose(1, 2)  # (B, H, S, D)
        return q, k, v

    def forward(
        self,
        x: torch.Tensor,
        memory: torch.Tensor | None = None,
        key_padding_mask: torch.Tensor | None = None,
        attn_mask: torch.Tensor | None = None,
        kv_cache: KVCache | None = None,
        last_query: bool = False,
    ) -> torch.Tensor:
        """x (B, T, C), memory (B, S, C) or None -> (B, T, C).

        key_padding_mask: (B, S) boolean, True where the key is padding (as in PyTorch).
        attn_mask: (T, S) or (B, H, T, S), boolean (True = may attend) or additive float.
        kv_cache: self-attention only; the new keys/values are appended to it and the queries
        attend to everything cached so far.
        last_query: only the last position's query attends (over every key): -> (B, 1, C), the
        same as the last row of the full output, for a loss on the last position only.
        """
        q, k, v = self.project_qkv(x, memory, last_query)  # (B, H, T, D), (B, H, S, D), (B, H, S, D)
        B, T = x.shape[0], q.shape[2]  # T = 1 with last_query
        if last_query and attn_mask is not None:
            attn_mask = attn_mask[..., -1:, :]  # the last query's row
        q, k, v = self.points.q(q), self.points.k(k), self.points.v(v)
        if kv_cache is not None:
            if memory is not None:
                raise UserError("kv_cache is for self-attention; cross-attention keys are fixed")
            k, v = kv_cache.append(k, v)  # (B, H, S, D) with S = cached + T
        S = k.shape[2]
        explicit = not self.use_sdpa or self.points.scores.active or self.points.weights.active
        mask = combined_mask(B, T, S, self.causal, key_padding_mask, attn_mask, explicit, x.device)  # or None
        if explicit:
            out = self._explicit(q, k, v, mask)  # (B, H, T, D)
        else:
            is_causal = self.causal and mask is None and T == S and T > 1
            out = self.sdpa(q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0,
                            is_causal=is_causal)  # (B, H, T, D)
            if mask is not None:  # same rule as `attention`: a row with no key gives 0, not NaN
                out = out.masked_fill(~mask.any(dim=-1, keepdim=True), 0.0)
        z = self.points.z(out.transpose(1, 2))  # (B, T, H, D): each head's output
        out = self.proj(z.reshape(B, T, self.d_model))  # (B, T, C): concat heads, W_O mixes them
        return self.points.out(out)

    def _explicit(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                  mask: torch.Tensor | None) -> torch.Tensor:
        """The attention formula in steps, through the scores and weights points -> (B, H, T, D)."""
        scores = self.points.scores(attention_scores(q, k, mask))  # (B, H, T, S)
        weights = self.points.weights(attention_weights(scores))  # (B, H, T, S)
        if self.training and self.dropout > 0:
            weights = F.dropout(weights, self.dropout, training=True)  # after the point saw them
        return weights @ v  # (B, H, T, D)
