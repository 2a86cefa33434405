"""Masks: which keys each query may attend to, as booleans (True = may attend).

- `causal_mask`    the lower triangle: a position sees itself and the positions before it.
- `combined_mask`  the causal mask, a padding mask and a given mask combined into one, the way
                   `MultiHeadAttention` applies them.
"""

from __future__ import annotations

import torch

from attnlab.errors import UserError


def causal_mask(T: int, S: int | None = None, device: torch.device | str | None = None) -> torch.Tensor:
    """Boolean (T, S) lower-triangular mask: query t may see keys 0..t + (S - T).

    With S > T the queries are the last T positions of S (as when a KV cache holds the past).
    >>> causal_mask(2, 3).int().tolist()
    [[1, 1, 0], [1, 1, 1]]
    """
    S = T if S is None else S
    return torch.ones(T, S, dtype=torch.bool, device=device).tril(diagonal=S - T)


def combined_mask(B: int, T: int, S: int, causal: bool, key_padding_mask: torch.Tensor | None,
                  attn_mask: torch.Tensor | None, explicit: bool, device: torch.device) -> torch.Tensor | None:
    """Causal, padding and explicit masks as one boolean (B or 1, 1, T, S) mask.

    key_padding_mask (B, S): True where the key is padding (as in PyTorch). attn_mask (T, S) or
    (B, H, T, S): boolean (True = may attend) or additive float (0 or -inf). Returns None when no
    mask is needed: no causal mask and no other mask, a single query (KV-cached decoding), or a
    plain causal square block on the fast path (`explicit=False`: it passes `is_causal` instead).
    """
    if key_padding_mask is None and attn_mask is None:
        if not causal or T == 1:  # one new query (KV-cached decoding) may see every key
            return None
        if T == S and not explicit:
            return None  # the fast path uses is_causal instead
        return causal_mask(T, S, device=device)
    mask = torch.ones(1, 1, T, S, dtype=torch.bool, device=device)
    if causal:
        mask = mask & causal_mask(T, S, device=device)
    if key_padding_mask is not None:
        if key_padding_mask.shape != (B, S):
            raise UserError(f"key_padding_mask must be (B, S) = ({B}, {S}), got {tuple(key_padding_mask.shape)}")
        mask = mask & ~key_padding_mask.bool().view(B, 1, 1, S)  # (B, 1, T, S)
    if attn_mask is not None:
        if attn_mask.dtype != torch.bool:
            # an additive float mask becomes boolean; finite offsets other than 0 are not supported
            if torch.isfinite(attn_mask).logical_and(attn_mask != 0).any():
                raise UserError("a float attn_mask may hold only 0 and -inf; use a boolean mask")
            attn_mask = attn_mask == 0
        mask = mask & attn_mask
    return mask
