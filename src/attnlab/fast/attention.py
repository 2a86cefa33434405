"""An attention kernel for CPU autocast, handed to every `MultiHeadAttention` of a model.

A `MultiHeadAttention` computes its fast path with `self.sdpa`, which is
`F.scaled_dot_product_attention` unless something hands it another function of the same
arguments. The training loop hands it `cpu_autocast_attention` (`use_for_training`): PyTorch's
CPU flash-attention kernel is slow in bf16 (forward + backward took 3.5x its fp32 time at the
`cpu` preset's size, T = 64, D = 32, on a 2-core AMD EPYC with AVX-512 BF16).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from attnlab.model.attention import MultiHeadAttention, causal_mask


def cpu_autocast_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, attn_mask: torch.Tensor | None = None,
                           dropout_p: float = 0.0, is_causal: bool = False) -> torch.Tensor:
    """`F.scaled_dot_product_attention` (tested equal to `attention`), except under CPU autocast.

    Under CPU autocast, an unmasked or plain causal attention without dropout is
    softmax(q·kᵀ/√D + M)·v in three bf16 kernels (M is 0, or -inf above the diagonal), faster than
    the flash kernel at these sizes; anything else (a mask, dropout) runs the fp32 kernel on the
    upcast inputs. q (..., T, D), k (..., S, D), v (..., S, Dv) -> (..., T, Dv).
    """
    if q.device.type != "cpu" or not torch.is_autocast_enabled("cpu"):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, is_causal=is_causal, dropout_p=dropout_p)
    if attn_mask is None and dropout_p == 0.0:
        T, S, D = q.shape[-2], k.shape[-2], q.shape[-1]
        bias = torch.zeros(T, S, device=q.device)  # M: added to the scores
        if is_causal:
            bias = bias.masked_fill(~causal_mask(T, S, device=q.device), float("-inf"))
        scores = torch.baddbmm(bias, q.flatten(0, -3), k.flatten(0, -3).transpose(1, 2), alpha=D**-0.5)  # (N, T, S)
        return (scores.softmax(dim=-1) @ v.flatten(0, -3)).view(*q.shape[:-1], v.shape[-1])  # (..., T, Dv)
    with torch.autocast("cpu", enabled=False):  # autocast would cast the fp32 inputs back to bf16
        return F.scaled_dot_product_attention(q.float(), k.float(), v.float(), attn_mask=attn_mask,
                                              is_causal=is_causal, dropout_p=dropout_p)


def use_for_training(model: nn.Module) -> None:
    """Hand every attention of `model` the kernel above (outside CPU autocast it is PyTorch's own)."""
    for module in model.modules():
        if isinstance(module, MultiHeadAttention):
            module.sdpa = cpu_autocast_attention
