"""attnlab.labs.superposition.data: sparse features present with probability P, uniform when present;
the importance weights."""

from __future__ import annotations

import doctest

import pytest
import torch

from train_helpers import one_thread  # noqa: F401 (an autouse fixture)

from attnlab.labs.superposition import data
from attnlab.labs.superposition.data import importance_weights, sparse_features


@pytest.mark.parametrize("module", [data])
def test_the_worked_examples_in_the_docstrings(module):
    assert doctest.testmod(module).failed == 0


def test_sparse_features_are_present_with_probability_p_and_uniform_when_present():
    probability = torch.tensor([1.0, 0.3, 0.05])
    x = sparse_features(probability, 20000, 5, torch.Generator().manual_seed(0))  # (3, 20000, 5)
    present = (x > 0).float().mean(dim=(1, 2))
    torch.testing.assert_close(present, probability, atol=0.01, rtol=0)
    for k in range(3):
        values = x[k][x[k] > 0]
        assert values.max() < 1.0 and values.mean().item() == pytest.approx(0.5, abs=0.02)
        assert (values < 0.25).float().mean().item() == pytest.approx(0.25, abs=0.03)  # uniform, not just centred
    torch.testing.assert_close(importance_weights(3, 0.9), torch.tensor([1.0, 0.9, 0.81]))
