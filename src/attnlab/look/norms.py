"""Norm-based contributions (Kobayashi et al. 2020, "Attention is not only a weight").

A head's output for query i is a weighted sum, Σ_j α_ij f(x_j), where f(x_j) is token j's value
vector carried through the head's slice of W_O. A weight only says how much of f(x_j) is taken;
how much that adds to the output also depends on how big f(x_j) is. So the contribution of token
j is the length of what it actually hands over:

    contribution_ij = ‖α_ij · f(x_j)‖ = α_ij · ‖f(x_j)‖
    share_ij        = contribution_ij / Σ_j contribution_ij

Seed 000, with no W_O (f(x) = v): the weights 0.1 / 0.8 / 0.1 over [10, 10], [100, 100],
[5, 5] hand over vectors of length 1.414 / 113.137 / 0.707, so 만수무강 carries 98.2% of the
output, not the 80% its weight says.

>>> import torch
>>> norms = contribution_norms(torch.tensor([[0.1, 0.8, 0.1]]), torch.tensor([[10.0, 10], [100, 100], [5, 5]]))
>>> [round(x, 3) for x in norms[0].tolist()]
[1.414, 113.137, 0.707]
>>> round(shares(norms)[0, 1].item(), 3)
0.982
"""

from __future__ import annotations

import torch
from attnlab.errors import UserError


def value_vectors_after_wo(values: torch.Tensor, w_o: torch.Tensor) -> torch.Tensor:
    """f(x) for every head and source token: values (H, S, D), W_O (C, H·D) -> (H, S, C).

    W_O is an nn.Linear weight (out, in): input columns h·D .. (h+1)·D read head h's slice,
    so head h's f(x_j) = W_O[:, hD:(h+1)D] · v_j. The bias of W_O belongs to no token and
    is left out, as in the paper.
    """
    H, S, D = values.shape
    C = w_o.shape[0]
    if w_o.shape[1] != H * D:
        raise UserError(f"W_O takes {w_o.shape[1]} inputs, but {H} heads of {D} give {H * D}")
    per_head = w_o.reshape(C, H, D)  # (C, H, D): column block h is head h's slice
    return torch.einsum("hsd,chd->hsc", values, per_head)  # (H, S, C)


def contribution_norms(weights: torch.Tensor, values: torch.Tensor, w_o: torch.Tensor | None = None) -> torch.Tensor:
    """‖α_ij · f(x_j)‖ for every head, query i and source token j.

    weights (H, T, S) and values (H, S, D) with w_o (C, H·D) -> (H, T, S); or, with no W_O,
    f(x) = v: weights (T, S) and values (S, Dv) -> (T, S) (seed 000's weighted sum).
    """
    weights = torch.as_tensor(weights, dtype=torch.float32) if not torch.is_tensor(weights) else weights
    values = torch.as_tensor(values, dtype=torch.float32) if not torch.is_tensor(values) else values
    if w_o is None:
        if weights.shape[-1] != values.shape[-2]:
            raise UserError(f"weights (T, S) and values (S, Dv) do not fit: {tuple(weights.shape)} and "
                             f"{tuple(values.shape)}")
        return weights * values.norm(dim=-1).unsqueeze(-2)  # (..., T, S)
    if weights.dim() != 3 or values.dim() != 3 or weights.shape[0] != values.shape[0] \
            or weights.shape[2] != values.shape[1]:
        raise UserError(f"weights (H, T, S) and values (H, S, D) do not fit: {tuple(weights.shape)} and "
                         f"{tuple(values.shape)}")
    f = value_vectors_after_wo(values, w_o)  # (H, S, C)
    return weights * f.norm(dim=-1).unsqueeze(1)  # (H, T, S)


def shares(norms: torch.Tensor) -> torch.Tensor:
    """Each contribution as a fraction of its row (query): (..., T, S), rows sum to 1
    (a row of zeros, a query with nothing to take, stays zero)."""
    total = norms.sum(dim=-1, keepdim=True)
    return norms / torch.where(total > 0, total, torch.ones_like(total))
