"""attnlab.labs.grokking.data: the addition table and the seeded split."""

from __future__ import annotations

import doctest

import torch

from attnlab.labs.grokking import data
from attnlab.labs.grokking.data import addition_table, train_mask


def test_the_split_and_the_table():
    inputs, labels = addition_table(5)
    assert inputs.shape == (25, 3) and (inputs[:, 2] == 5).all()
    assert labels.tolist() == [(a + b) % 5 for a in range(5) for b in range(5)]
    mask = train_mask(113, 0.3, 0)
    assert mask.sum().item() == int(0.3 * 113 * 113)
    assert torch.equal(mask, train_mask(113, 0.3, 0)) and not torch.equal(mask, train_mask(113, 0.3, 1))


def test_the_worked_example_in_the_docstring():
    result = doctest.testmod(data)
    assert result.attempted > 0 and result.failed == 0
