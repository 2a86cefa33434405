"""attnlab.labs.sae.units: specificity, densities, histograms and top tokens by hand, and the
logit weights against the model's own direct path."""

from __future__ import annotations

import doctest
import math

import pytest
import torch

from sae_helpers import tiny_gpt

from attnlab.labs.sae import units
from attnlab.labs.sae.model import SAEConfig, SparseAutoencoder
from attnlab.labs.sae.units import specificity


def test_specificity_by_hand():
    acts = torch.tensor([[5.0, 0.0], [4.0, 0.0], [3.0, 0.0], [1.0, 0.0]])
    ids = torch.tensor([2, 2, 7, 2])
    got = specificity(acts, ids, k=3)  # unit 0: top 3 on tokens 2, 2, 7; unit 1: never active
    assert got[0].item() == pytest.approx(2 / 3) and math.isnan(got[1].item())


def test_the_worked_example_in_the_docstring():
    result = doctest.testmod(units)
    assert result.attempted > 0 and result.failed == 0


def test_density_histogram_and_top_tokens_by_hand():
    acts = torch.tensor([[0.0, 2.0], [1.0, 2.0], [4.0, 0.0], [-1.0, 2.0]])
    torch.testing.assert_close(units.densities(acts), torch.tensor([0.5, 0.75]))
    h = units.histogram(acts[:, 0], bins=4)  # positive values 1 and 4 over [0, 4]: bins of width 1
    assert h == {"max": 4.0, "counts": [0, 1, 0, 1]}
    assert units.histogram(torch.tensor([0.0, -2.0]), bins=3) == {"max": 0.0, "counts": [0, 0, 0]}
    assert units.top_indices(acts[:, 1], 2) == [0, 1]  # three equal values: the earlier tokens first
    assert units.top_indices(acts[:, 0], 10) == [2, 1]  # only the positive ones


def test_neurons_are_the_points_own_coordinates_and_features_the_saes():
    x = torch.randn(6, 3, generator=torch.Generator().manual_seed(0))
    neurons = units.neuron_units(x)
    assert neurons.kind == "neuron" and torch.equal(neurons.acts, x) and torch.equal(neurons.directions, torch.eye(3))
    sae = SparseAutoencoder(SAEConfig(3, 5), torch.Generator().manual_seed(1))
    features = units.sae_units(sae, x, batch=4)  # two batches
    torch.testing.assert_close(features.acts, torch.relu((x - sae.b_dec) @ sae.W_enc + sae.b_enc).detach())
    torch.testing.assert_close(features.directions, sae.W_dec.detach())


def test_logit_weights_follow_the_direct_path_by_hand():
    model = tiny_gpt()
    with torch.no_grad():
        model.ln_f.weight.uniform_(0.5, 1.5)  # a gain that is not all ones
    W_U, gain = model.lm_head.weight.detach(), model.ln_f.weight.detach()  # (V, C), (C,)

    def through_ln_f(v):  # ln_f frozen: centred, scaled by its gain, never divided by the norm
        return ((v - v.mean()) * gain) @ W_U.t()

    down = model.blocks[1].ffwd.down.weight.detach()  # (C, d_ff)
    got = units.logit_weights(model, "blocks.1.ffwd.hidden", torch.eye(32)[:3])
    for i in range(3):  # neuron i writes down's column i into the residual stream
        torch.testing.assert_close(got[i], through_ln_f(down[:, i]))
    direction = torch.randn(1, 8, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(units.logit_weights(model, "blocks.0.out", direction)[0], through_ln_f(direction[0]))
    assert units.logit_weights(model, "logits", torch.eye(11)) is None  # not in the residual stream
    assert units.to_residual(model, "blocks.0.attn.weights", torch.eye(5)) is None  # no linear map there
