"""The toy model's synthetic data: n features, each present with probability P, and then
uniform in [0, 1]; absent features are 0 (Elhage et al. 2022, section "Demonstrating superposition").

    >>> import torch
    >>> x = sparse_features(torch.tensor([1.0, 0.5]), 4, 3, torch.Generator().manual_seed(0))
    >>> x.shape                               # (instances, batch, features)
    torch.Size([2, 4, 3])
    >>> bool((x[0] > 0).all())                # P = 1: every feature present
    True
    >>> importance_weights(4, 0.5).tolist()   # feature i weighs 0.5 ** i
    [1.0, 0.5, 0.25, 0.125]
"""

from __future__ import annotations

import torch


def sparse_features(probability: torch.Tensor, batch: int, n_features: int,
                    generator: torch.Generator) -> torch.Tensor:
    """probability (I,): each instance's P -> x (I, batch, n_features).

    One uniform draw u per entry does both jobs: the feature is present when u < P, and then
    u / P is uniform in [0, 1) (u is uniform in [0, P) given u < P), so no second draw is needed.
    """
    p = probability[:, None, None]  # (I, 1, 1)
    u = torch.rand(probability.shape[0], batch, n_features, generator=generator)  # (I, B, n)
    return torch.where(u < p, u / p, torch.zeros(()))


def importance_weights(n_features: int, decay: float) -> torch.Tensor:
    """(n_features,): decay ** i, the weight of feature i's squared error."""
    return decay ** torch.arange(n_features, dtype=torch.float64).float()
