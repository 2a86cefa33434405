"""What each head writes into the residual stream: its output through its own slice of W_O.

A layer's attention output is the sum of its heads' outputs plus W_O's bias:

    attn.out = concat(z_0 .. z_{H-1}) W_Oᵀ + b_O = Σ_h z_h W_O[:, hD:(h+1)D]ᵀ + b_O

    >>> import torch
    >>> from attnlab.model.attention import MultiHeadAttention
    >>> attn = MultiHeadAttention(d_model=4, n_heads=2)
    >>> z = torch.randn(1, 3, 2, 2)                                         # (B, T, H, D)
    >>> out = head_outputs(z, attn)                                         # (B, T, H, C)
    >>> torch.allclose(out.sum(dim=2) + attn.proj.bias, attn.proj(z.reshape(1, 3, 4)), atol=1e-6)
    True
"""

from __future__ import annotations

import torch
import torch.nn as nn


def head_outputs(z: torch.Tensor, attn: nn.Module) -> torch.Tensor:
    """z (B, T, H, D), each head's output before W_O -> (B, T, H, C), each head's part of attn.out
    (without W_O's bias). With `attn_proj=False` (no W_O) head h's part is z_h in its own D columns."""
    B, T, H, D = z.shape
    if isinstance(attn.proj, nn.Linear):
        w_o = attn.proj.weight.view(attn.proj.out_features, H, D)  # (C, H, D)
        return torch.einsum("bthd,chd->bthc", z, w_o)  # (B, T, H, C)
    out = z.new_zeros(B, T, H, H * D)
    for h in range(H):
        out[:, :, h, h * D:(h + 1) * D] = z[:, :, h]
    return out  # (B, T, H, C)


def output_bias(attn: nn.Module) -> torch.Tensor | None:
    """W_O's bias b_O (C,), the part of attn.out that belongs to no head (None: there is none)."""
    proj = attn.proj
    return proj.bias if isinstance(proj, nn.Linear) else None
