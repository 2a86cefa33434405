"""attnlab.labs.grokking.fourier: the Fourier basis, the sum directions, the key frequencies and the
restricted and excluded losses against hand-built references."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from attnlab.labs.grokking.data import addition_table, train_mask
from attnlab.labs.grokking.fourier import (excluded_loss, fourier_basis, frequency_norms, key_frequencies,
                                           key_share, neuron_frequencies, restricted_loss, sum_directions)


def waves(p: int, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.arange(p, dtype=torch.float64)
    return torch.cos(2 * math.pi * k * x / p), torch.sin(2 * math.pi * k * x / p)


@pytest.mark.parametrize("p", [7, 113])
def test_the_fourier_basis_is_orthonormal(p):
    basis, names = fourier_basis(p)
    assert basis.shape == (p, p) and names[:3] == ["const", "cos 1", "sin 1"]
    torch.testing.assert_close(basis @ basis.T, torch.eye(p), atol=1e-5, rtol=0)


def test_the_sum_directions_are_nandas_products_of_the_1d_basis():
    """cos(w(a+b)) = (cos a cos b - sin a sin b) / sqrt 2 in the 2-D basis, sin likewise (Nanda et al.)."""
    p, k = 11, 3
    basis, _ = fourier_basis(p)
    cos, sin = basis[2 * k - 1], basis[2 * k]
    outer = lambda u, v: (u[:, None] * v[None, :]).flatten()  # noqa: E731 (row a * p + b)
    expected = torch.stack([(outer(cos, cos) - outer(sin, sin)) / math.sqrt(2),
                            (outer(sin, cos) + outer(cos, sin)) / math.sqrt(2)])
    torch.testing.assert_close(sum_directions(p, k), expected, atol=1e-6, rtol=0)


def test_key_frequencies_finds_the_frequencies_planted_in_an_embedding():
    p, d = 31, 16
    generator = torch.Generator().manual_seed(0)
    W = 0.01 * torch.randn(p, d, generator=generator, dtype=torch.float64)
    for column, (k, size) in enumerate([(4, 3.0), (11, 2.0), (14, 1.7)]):
        cos, sin = waves(p, k)
        W[:, 2 * column] += size * cos
        W[:, 2 * column + 1] += size * sin
    norms = frequency_norms(W.float(), fourier_basis(p)[0])
    assert norms.shape == (p // 2,)
    assert key_frequencies(norms) == [4, 11, 14]  # strongest first
    assert key_share(norms, [4, 11, 14]) > 0.99
    # each planted wave's norm, computed directly: size * |cos_k| (= size * sqrt(p / 2)), cos and sin together
    assert norms[4 - 1].item() == pytest.approx(3.0 * math.sqrt(p / 2) * math.sqrt(2), rel=0.01)


def trig_logits(p: int, keys: list[int]) -> torch.Tensor:
    """A hand-built model's logits: sum_k cos(w_k (a + b - c)), largest at c = a + b mod p."""
    a = torch.arange(p).repeat_interleave(p)[:, None].double()  # (p*p, 1)
    b = torch.arange(p).repeat(p)[:, None].double()
    c = torch.arange(p)[None, :].double()  # (1, p)
    return 4.0 * sum(torch.cos(2 * math.pi * k * (a + b - c) / p) for k in keys).float()  # (p*p, p)


def test_a_hand_built_trig_model_is_all_restricted_and_nothing_excluded():
    p, keys = 23, [2, 7, 9]
    logits = trig_logits(p, keys)
    _, labels = addition_table(p)
    is_train = train_mask(p, 0.3, 0)
    full = F.cross_entropy(logits.double(), labels).item()
    assert (logits.argmax(dim=-1) == labels).all()  # it computes a + b mod p
    assert restricted_loss(logits, labels, p, keys) == pytest.approx(full, abs=1e-4)
    # with its frequencies removed nothing is left: uniform logits, the loss of chance
    assert excluded_loss(logits, labels, is_train, p, keys) == pytest.approx(math.log(p), abs=1e-4)
    # other frequencies are no substitute: keeping them leaves (nearly) nothing either
    assert restricted_loss(logits, labels, p, [1, 3]) == pytest.approx(math.log(p), abs=1e-3)


def test_neuron_frequencies_names_each_neurons_frequency():
    p = 17
    generator = torch.Generator().manual_seed(1)
    columns, planted = [], [3, 5, 8, 3]
    for k in planted:  # a neuron of cos(w a) cos(w b) + sin(w a): linear and product terms of one frequency
        cos, sin = waves(p, k)
        grid = (cos[:, None] * cos[None, :] + sin[:, None]).flatten()
        columns.append(grid + 0.01 * torch.randn(p * p, generator=generator, dtype=torch.float64))
    freqs, shares = neuron_frequencies(torch.stack(columns, dim=1).float(), fourier_basis(p)[0])
    assert freqs.tolist() == planted
    assert (shares > 0.99).all()
