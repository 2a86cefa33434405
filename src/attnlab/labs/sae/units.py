"""The units a browser lists, computed the same way for an SAE's features and for raw neurons.

A unit has an activation at each token and a direction in the point's space: an SAE feature i
is `f_i = encode(x)[i]` with direction `W_dec[i]`; neuron i of the point is `x_i` with direction
the unit vector e_i. Everything below takes the activations (N, U) (one row per token) and the
directions (U, d), so the two are measured alike.

- density: the share of tokens where the unit is active (> 0);
- histogram: counts of the positive activations in `bins` equal bins from 0 to the unit's max;
- top contexts: the k tokens with the largest activations (ties: the earlier token first);
- logit weights: what the direction does to the next-token logits along the direct path, as
  Bricken et al.'s "logit weights": through the block's `down` projection (for a
  `blocks.L.ffwd.hidden` point; a point of width d_model is already in the residual stream),
  then ln_f frozen (centred and scaled by its gain, its division by the norm left out), then
  lm_head. The tokens it promotes are the largest, those it suppresses the smallest;
- specificity (`specificity`): see its docstring.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import torch
import torch.nn as nn

from attnlab.labs.sae.model import SparseAutoencoder


@dataclass
class Units:
    kind: str  # "feature" (an SAE's) or "neuron"
    acts: torch.Tensor  # (N, U) each unit's activation at each token
    directions: torch.Tensor  # (U, d) each unit's direction in the point's space


@torch.no_grad()
def sae_units(sae: SparseAutoencoder, x: torch.Tensor, batch: int = 4096) -> Units:
    """x (N, d) activations -> the SAE's features as units."""
    acts = torch.cat([sae.encode(x[i:i + batch]) for i in range(0, len(x), batch)])  # (N, F)
    return Units("feature", acts, sae.W_dec.detach().clone())


def neuron_units(x: torch.Tensor) -> Units:
    """x (N, d) activations -> the point's own coordinates (neurons) as units."""
    return Units("neuron", x, torch.eye(x.shape[1]))


def densities(acts: torch.Tensor) -> torch.Tensor:
    """(N, U) -> (U,) the share of tokens where each unit is active."""
    return (acts > 0).float().mean(dim=0)


def histogram(column: torch.Tensor, bins: int = 20) -> dict:
    """One unit's positive activations (N,) -> {"max", "counts": [bins]} over [0, max]."""
    positive = column[column > 0]
    top = positive.max().item() if len(positive) else 0.0
    counts = torch.histc(positive, bins=bins, min=0.0, max=top).long().tolist() if len(positive) else [0] * bins
    return {"max": top, "counts": counts}


def top_indices(column: torch.Tensor, k: int) -> list[int]:
    """The tokens (flat indices) of the k largest positive values of column (N,); equal values in
    token order."""
    order = torch.sort(-column, stable=True).indices[:k]
    return [i for i in order.tolist() if column[i] > 0]


def specificity(acts: torch.Tensor, token_ids: torch.Tensor, k: int = 50) -> torch.Tensor:
    """How much a unit is about one token: of its k strongest activations (k = 50, or all of its
    positive ones if it has fewer; ties in token order), the share that sit on its most frequent
    token there. 1.0: all on one token (e.g. always fires on 'e'); 1/k: no token twice. NaN for a
    unit never active. acts (N, U), token_ids (N,) -> (U,).

    >>> acts = torch.tensor([[3.0, 1.0], [2.0, 0.0], [1.0, 2.0], [0.0, 3.0]])
    >>> specificity(acts, torch.tensor([7, 7, 8, 9]), k=2)   # unit 0: tokens 7, 7; unit 1: 9, 8
    tensor([1.0000, 0.5000])
    """
    out = torch.full((acts.shape[1],), math.nan)
    for u in range(acts.shape[1]):
        rows = top_indices(acts[:, u], k)
        if rows:
            out[u] = torch.bincount(token_ids[rows]).max().item() / len(rows)
    return out


def to_residual(model: nn.Module, point: str, directions: torch.Tensor) -> torch.Tensor | None:
    """Directions (U, d) in the point's space -> (U, C) what they add to the residual stream; None
    for a point whose directions do not reach it by one linear map."""
    hidden = re.fullmatch(r"blocks\.(\d+)\.ffwd\.hidden", point)
    if hidden:
        down = model.blocks[int(hidden.group(1))].ffwd.down.weight  # (C, d_ff)
        return directions @ down.t()  # (U, C)
    if directions.shape[1] == model.config.d_model and point != "logits":
        return directions
    return None


@torch.no_grad()
def logit_weights(model: nn.Module, point: str, directions: torch.Tensor) -> torch.Tensor | None:
    """(U, d) -> (U, V): each direction through the rest of the model's direct path (the module
    docstring); None where there is no such path."""
    v = to_residual(model, point, directions.float())
    if v is None:
        return None
    ln_f = getattr(model, "ln_f", None)
    if isinstance(ln_f, nn.LayerNorm):
        v = v - v.mean(dim=-1, keepdim=True)
    if getattr(ln_f, "weight", None) is not None:
        v = v * ln_f.weight
    return v @ model.lm_head.weight.t()  # (U, V)
