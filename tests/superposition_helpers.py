"""What the superposition lab's tests share: regular polygons of feature columns, and the flags of a
quick sweep."""

from __future__ import annotations

import math

import torch

QUICK = ["--steps", "30", "--instances", "2", "--no-progress"]


def polygon(k: int, radius: float = 1.0, start_deg: float = 0.0) -> torch.Tensor:
    """(2, k): k unit columns at equal angles round the circle."""
    angles = torch.tensor([math.radians(start_deg + 360.0 * i / k) for i in range(k)], dtype=torch.float64)
    return radius * torch.stack([torch.cos(angles), torch.sin(angles)])
