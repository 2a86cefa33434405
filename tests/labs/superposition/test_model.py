"""attnlab.labs.superposition.model: x' = ReLU(WᵀW x + b) for each instance, by plain loops, and the
weighted error it is trained on."""

from __future__ import annotations

import doctest

import pytest
import torch

from train_helpers import one_thread  # noqa: F401 (an autouse fixture)

from attnlab.labs.superposition import model
from attnlab.labs.superposition.model import ToyModel
from attnlab.labs.superposition.train import weighted_error


@pytest.mark.parametrize("module", [model])
def test_the_worked_examples_in_the_docstrings(module):
    assert doctest.testmod(module).failed == 0


def test_the_model_is_relu_of_wt_w_x_plus_b_for_each_instance():
    generator = torch.Generator().manual_seed(0)
    toy = ToyModel(3, 5, 2, generator)
    with torch.no_grad():
        toy.b.copy_(torch.randn(3, 5, generator=generator))
    x = torch.rand(3, 4, 5, generator=generator)
    out = toy(x)
    for k in range(3):
        for s in range(4):
            W, b = toy.W[k], toy.b[k]
            torch.testing.assert_close(out[k, s], torch.relu(W.T @ (W @ x[k, s]) + b))
    importance = torch.tensor([1.0, 0.5, 0.25, 0.1, 0.0])
    expected = torch.stack([sum(importance @ (x[k, s] - out[k, s]) ** 2 for s in range(4)) / 4 for k in range(3)])
    torch.testing.assert_close(weighted_error(x, out, importance), expected)
