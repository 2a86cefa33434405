"""Modular addition as a table: every pair (a, b) of Z_p, the input `a b =` and the answer a + b mod p.

    >>> inputs, labels = addition_table(5)
    >>> inputs[7].tolist(), labels[7].item()     # row a * p + b: a = 1, b = 2; '=' is token p
    ([1, 2, 5], 3)
"""

from __future__ import annotations

import torch

from attnlab.labs.grokking.config import check_split


def addition_table(p: int) -> tuple[torch.Tensor, torch.Tensor]:
    """-> inputs (p * p, 3) rows [a, b, p] (p is the '=' token) and labels (p * p,) = (a + b) % p."""
    a = torch.arange(p).repeat_interleave(p)  # (p*p,)
    b = torch.arange(p).repeat(p)  # (p*p,)
    inputs = torch.stack([a, b, torch.full_like(a, p)], dim=1)  # (p*p, 3)
    return inputs, (a + b) % p


def train_mask(p: int, train_fraction: float, seed: int) -> torch.Tensor:
    """(p * p,) bool: a random `train_fraction` of the pairs, drawn from `seed`, for training."""
    n_train = check_split(p, train_fraction)
    order = torch.randperm(p * p, generator=torch.Generator().manual_seed(seed))
    mask = torch.zeros(p * p, dtype=torch.bool)
    mask[order[:n_train]] = True
    return mask
