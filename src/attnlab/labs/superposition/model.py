"""The toy model of superposition (Elhage et al. 2022): n features pass through m < n dimensions
and back, x' = ReLU(Wᵀ W x + b), with W (m, n) and b (n,).

Column i of W is where feature i lives in the m dimensions; Wᵀ W says how much reading feature i
back picks up of every other feature (the interference), and the ReLU with a negative bias can
cut small interference away, which is what lets sparse features share dimensions.

Several instances (independent models, each with its own W and b) train at once as one batched
tensor: instance k only ever sees its own slice, so their gradients never mix.

    >>> import torch
    >>> model = ToyModel(n_instances=3, n_features=5, n_dims=2, generator=torch.Generator().manual_seed(0))
    >>> model.W.shape, model.b.shape
    (torch.Size([3, 2, 5]), torch.Size([3, 5]))
    >>> model(torch.rand(3, 8, 5)).shape       # (instances, batch, features)
    torch.Size([3, 8, 5])
"""

from __future__ import annotations

import math

import torch
from torch import nn


class ToyModel(nn.Module):
    def __init__(self, n_instances: int, n_features: int, n_dims: int, generator: torch.Generator | None = None):
        super().__init__()
        # Xavier-normal columns, as in the paper's code: std sqrt(2 / (n + m))
        std = math.sqrt(2.0 / (n_features + n_dims))
        self.W = nn.Parameter(std * torch.randn(n_instances, n_dims, n_features, generator=generator))  # (I, m, n)
        self.b = nn.Parameter(torch.zeros(n_instances, n_features))  # (I, n)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (I, B, n) -> x' (I, B, n): each instance reads its own batch."""
        h = x @ self.W.transpose(1, 2)  # (I, B, m): down into the m dimensions, h = W x
        out = h @ self.W  # (I, B, n): back up, Wᵀ h
        return torch.relu(out + self.b[:, None, :])
