"""What a trained W (m dimensions × n features) says, in the paper's measures (Elhage et al. 2022).

    ||W_i||                      how strongly feature i is represented (1: fully, 0: dropped)
    WᵀW                          the Gram matrix: entry (i, j) is how much reading feature i picks
                                 up of feature j (off the diagonal: interference)
    sharing_i = Σ_{j≠i} (Ŵ_i·W_j)²   how much of feature i's direction other features also use
                                 (Ŵ_i = W_i / ||W_i||); 0: feature i has its dimension to itself
    D_i = ||W_i||² / Σ_j (Ŵ_i·W_j)²  feature i's dimensionality: the share of a dimension it gets
                                 (j runs over all features, i included, so D_i = ||W_i||² /
                                 (||W_i||² + sharing_i)): 1 alone, 1/2 in an antipodal pair,
                                 2/5 in a pentagon, 0 dropped
    m / ||W||_F²                 dimensions per feature of the whole model

A worked example: two features sharing one dimension antipodally, a third dropped.

    >>> import torch
    >>> W = torch.tensor([[1.0, -1.0, 0.0]])                    # (m=1, n=3)
    >>> feature_norms(W).tolist(), sharing(W).tolist()
    ([1.0, 1.0, 0.0], [1.0, 1.0, 0.0])
    >>> feature_dimensionality(W).tolist(), dimensions_per_feature(W)
    ([0.5, 0.5, 0.0], 0.5)
"""

from __future__ import annotations

import math

import torch

REPRESENTED = 0.5  # a feature whose column has at least this norm counts as represented
EPS = 1e-8  # below this norm a column is the zero vector: no direction, no sharing


def feature_norms(W: torch.Tensor) -> torch.Tensor:
    """W (m, n) -> (n,): ||W_i||, the length of each feature's column."""
    return W.norm(dim=0)


def gram(W: torch.Tensor) -> torch.Tensor:
    """W (m, n) -> WᵀW (n, n)."""
    return W.T @ W


def _overlaps(W: torch.Tensor) -> torch.Tensor:
    """(n, n): entry (i, j) = (Ŵ_i · W_j)², 0 in the rows of zero columns."""
    norms = feature_norms(W)  # (n,)
    unit = W / norms.clamp_min(EPS)  # (m, n): Ŵ_i, a zero column stays zero
    unit = torch.where(norms > EPS, unit, torch.zeros(()))
    return (unit.T @ W) ** 2  # (n, n)


def sharing(W: torch.Tensor) -> torch.Tensor:
    """W (m, n) -> (n,): Σ_{j≠i} (Ŵ_i · W_j)², the paper's measure of superposition per feature."""
    overlaps = _overlaps(W)
    return overlaps.sum(dim=1) - overlaps.diagonal()


def feature_dimensionality(W: torch.Tensor) -> torch.Tensor:
    """W (m, n) -> (n,): D_i = ||W_i||² / Σ_j (Ŵ_i · W_j)², 0 for a dropped (zero) feature."""
    total = _overlaps(W).sum(dim=1)  # (n,): j = i contributes ||W_i||²
    squared = feature_norms(W) ** 2
    return torch.where(total > EPS ** 2, squared / total.clamp_min(EPS ** 2), torch.zeros(()))


def dimensions_per_feature(W: torch.Tensor) -> float:
    """m / ||W||_F²: the dimensions the model spends per (fully represented) feature."""
    return W.shape[0] / max((W ** 2).sum().item(), EPS)


def represented(W: torch.Tensor, threshold: float = REPRESENTED) -> list[int]:
    """The features whose columns have at least `threshold` norm."""
    return [i for i, norm in enumerate(feature_norms(W).tolist()) if norm >= threshold]


def neighbour_angles(W: torch.Tensor, threshold: float = REPRESENTED) -> list[float]:
    """For m = 2: going round the circle, the angle in degrees from each represented feature's
    column to the next one's (they add up to 360; a pentagon gives five 72s).

    >>> neighbour_angles(torch.tensor([[1.0, 0.0, -1.0], [0.0, 1.0, 0.0]]))
    [90.0, 90.0, 180.0]
    """
    if W.shape[0] != 2:
        raise ValueError(f"angles round the circle need 2 dimensions, W has {W.shape[0]}")
    keep = represented(W, threshold)
    if len(keep) < 2:
        return []
    angles = sorted(math.degrees(math.atan2(W[1, i].item(), W[0, i].item())) % 360.0 for i in keep)
    return [(b - a) % 360.0 for a, b in zip(angles, angles[1:] + angles[:1])]
