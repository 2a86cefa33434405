"""The Fourier view of modular addition (Nanda et al. 2023, "Progress measures for grokking").

Functions on Z_p = {0, ..., p-1} have an orthonormal basis of p vectors: the constant 1/sqrt(p)
and, for each frequency k = 1 .. (p-1)/2, cos(2 pi k x / p) and sin(2 pi k x / p), each scaled to
unit norm. A model that groks `a + b mod p` puts each number on a few circles (a few frequencies k
in its embedding) and computes cos/sin of w_k (a + b) with trigonometric identities. The measures:

    frequency_norms(W)     the embedding's norm at each frequency: sqrt(|cos_k . W|^2 + |sin_k . W|^2)
    key_frequencies(norms) the frequencies that stand out (share of the squared norm >= 2x an even share)
    restricted_loss        the loss with only the key frequencies' cos/sin(w_k (a + b)) components of the
                           logits kept (plus each output's mean over the inputs), on every pair
    excluded_loss          the loss with those components removed, on the training pairs

The logits' components live over the p x p grid of inputs (a, b): the direction cos(w_k (a + b))
is the grid of cos(2 pi k (a + b) / p), scaled to unit norm (the same vector as Nanda et al.'s
(cos_a cos_b - sin_a sin_b) / sqrt(2) in their 2-D basis), and likewise for sin.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def fourier_basis(p: int) -> tuple[torch.Tensor, list[str]]:
    """(p, p) orthonormal rows [const, cos 1, sin 1, cos 2, sin 2, ...] over Z_p, and their names (p odd)."""
    x = torch.arange(p, dtype=torch.float64)
    rows, names = [torch.ones(p, dtype=torch.float64)], ["const"]
    for k in range(1, p // 2 + 1):
        rows += [torch.cos(2 * math.pi * k * x / p), torch.sin(2 * math.pi * k * x / p)]
        names += [f"cos {k}", f"sin {k}"]
    basis = torch.stack(rows)  # (p, p)
    return (basis / basis.norm(dim=1, keepdim=True)).float(), names


def frequency_norms(W: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """W (p, C): one row per number (an embedding) -> (K,) its norm at each frequency k = 1..K."""
    coefficients = basis @ W.float()  # (p, C): row 0 the constant, then cos 1, sin 1, ...
    per_row = coefficients[1:].pow(2).sum(dim=1)  # (2K,)
    return per_row.view(-1, 2).sum(dim=1).sqrt()  # (K,): cos_k and sin_k together


def key_frequencies(norms: torch.Tensor, factor: float = 2.0) -> list[int]:
    """The frequencies (1-based, strongest first) whose share of the squared norm is at least
    `factor` times an even share (1/K): the handful a grokked embedding concentrates on."""
    share = norms.pow(2) / norms.pow(2).sum()  # (K,)
    order = torch.argsort(share, descending=True).tolist()
    return [k + 1 for k in order if share[k] >= factor / len(norms)]


def key_share(norms: torch.Tensor, keys: list[int]) -> float:
    """The share of the squared norm (the constant left out) that the frequencies `keys` hold."""
    energy = norms.pow(2)
    return float(energy[[k - 1 for k in keys]].sum() / energy.sum()) if keys else 0.0


def sum_directions(p: int, k: int) -> torch.Tensor:
    """(2, p * p): the unit vectors cos(w_k (a + b)) and sin(w_k (a + b)) over the grid, row a * p + b."""
    a = torch.arange(p, dtype=torch.float64).repeat_interleave(p)  # (p*p,)
    b = torch.arange(p, dtype=torch.float64).repeat(p)  # (p*p,)
    angle = 2 * math.pi * k * (a + b) / p
    directions = torch.stack([torch.cos(angle), torch.sin(angle)])  # (2, p*p)
    return (directions / directions.norm(dim=1, keepdim=True)).float()


def key_components(logits: torch.Tensor, p: int, keys: list[int]) -> torch.Tensor:
    """logits (p * p, p) over every pair -> their part along cos/sin(w_k (a + b)) for k in keys."""
    if not keys:
        return torch.zeros_like(logits)
    directions = torch.cat([sum_directions(p, k) for k in keys]).to(logits.device)  # (2n, p*p), orthonormal
    return directions.T @ (directions @ logits.float())  # (p*p, p)


def restricted_loss(logits: torch.Tensor, labels: torch.Tensor, p: int, keys: list[int]) -> float:
    """Cross-entropy over every pair with only the key frequencies' components kept, plus each
    output's mean over the inputs (a constant the components cannot hold), as Nanda et al."""
    kept = key_components(logits, p, keys)  # (p*p, p)
    kept = kept + (logits.float() - kept).mean(dim=0, keepdim=True)
    return F.cross_entropy(kept.double(), labels).item()


def excluded_loss(logits: torch.Tensor, labels: torch.Tensor, is_train: torch.Tensor, p: int,
                  keys: list[int]) -> float:
    """Cross-entropy over the training pairs with the key frequencies' components removed."""
    removed = logits.float() - key_components(logits, p, keys)  # (p*p, p)
    return F.cross_entropy(removed[is_train].double(), labels[is_train]).item()


def neuron_frequencies(acts: torch.Tensor, basis: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """acts (p * p, N): each neuron over every pair -> (best frequency (N,), share of its variance
    that frequency explains (N,)). A neuron's frequency-k part is its 2-D Fourier terms built from
    const, cos k and sin k in a and in b (the linear and product terms), as Nanda et al."""
    p = basis.shape[0]
    centred = (acts - acts.mean(dim=0, keepdim=True)).float().view(p, p, -1)  # (p, p, N)
    spectrum = torch.einsum("abn,fa,gb->fgn", centred, basis, basis).pow(2)  # (p, p, N)
    total = spectrum.sum(dim=(0, 1)).clamp_min(1e-30)  # (N,)
    shares = []
    for k in range(1, p // 2 + 1):
        idx = torch.tensor([0, 2 * k - 1, 2 * k])
        shares.append(spectrum[idx][:, idx].sum(dim=(0, 1)) / total)  # (N,)
    shares = torch.stack(shares)  # (K, N)
    best_share, best = shares.max(dim=0)
    return best + 1, best_share
