"""attnlab.labs.sae.metrics: the loss recovered by hand (the SAE's change made in the weights
instead), and L0, dead, dense and variance explained counted by hand."""

from __future__ import annotations

import copy
import doctest
import math

import pytest
import torch
import torch.nn.functional as F

from sae_helpers import tiny_gpt
from train_helpers import one_thread  # noqa: F401 (an autouse fixture)

from attnlab.labs.sae import metrics
from attnlab.labs.sae.metrics import ce_losses, feature_stats, loss_recovered, next_token_loss
from attnlab.labs.sae.model import SAEConfig, SparseAutoencoder


def test_loss_recovered_by_hand():
    assert loss_recovered(ce_clean=2.0, ce_sae=2.5, ce_ablated=4.0) == 0.75  # (4 - 2.5) / (4 - 2)
    assert math.isnan(loss_recovered(1.0, 1.0, 1.0))
    model = tiny_gpt().double()  # float64: the hand computation and the model's agree to 1e-9
    with torch.no_grad():
        model.blocks[0].ffwd.down.weight.mul_(20)  # a feed-forward layer that matters to the loss
    g = torch.Generator().manual_seed(1)
    x = torch.randint(11, (6, 8), generator=g)
    with torch.no_grad():
        y = model(x)[0].argmax(dim=-1)  # the model's own guesses: the clean loss is the lowest
    d = model.config.d_model * 4
    half = SparseAutoencoder(SAEConfig(d, d)).double()  # x̂ = ReLU(x) / 2 = x / 2 on ReLU activations
    with torch.no_grad():
        half.W_enc.copy_(torch.eye(d)); half.W_dec.copy_(torch.eye(d) / 2)
        half.b_enc.zero_(); half.b_dec.zero_()
    got = ce_losses(model, half, "blocks.0.ffwd.hidden", x, y)

    def loss_with_down_scaled(scale: float) -> float:  # the same change made in the weights instead
        other = copy.deepcopy(model)
        with torch.no_grad():
            other.blocks[0].ffwd.down.weight.mul_(scale)
            logits, _ = other(x)
        return F.cross_entropy(logits.flatten(0, 1), y.flatten()).item()

    clean, with_sae, ablated = loss_with_down_scaled(1.0), loss_with_down_scaled(0.5), loss_with_down_scaled(0.0)
    assert ablated - clean > 0.05
    assert got["ce_clean"] == pytest.approx(clean, abs=1e-9)
    assert got["ce_sae"] == pytest.approx(with_sae, abs=1e-9)
    assert got["ce_ablated"] == pytest.approx(ablated, abs=1e-9)
    assert got["loss_recovered"] == pytest.approx((ablated - with_sae) / (ablated - clean), abs=1e-7)


def test_feature_stats_count_dead_dense_and_l0_by_hand():
    sae = SparseAutoencoder(SAEConfig(2, 3))
    with torch.no_grad():
        sae.W_enc.copy_(torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])); sae.b_enc.copy_(torch.tensor([0, 0, -5.0]))
        sae.W_dec.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])); sae.b_dec.zero_()
    x = torch.tensor([[1.0, 0.0]] * 19 + [[0.0, 1.0]])  # feature 0 on 95% of tokens, 1 on 5%, 2 never
    s = feature_stats(sae, x)
    assert (s["l0"], s["dead"], s["dense"]) == (1.0, 1, 1)
    assert s["variance_explained"] == pytest.approx(1.0)


def test_the_worked_example_in_the_docstring():
    result = doctest.testmod(metrics)
    assert result.attempted > 0 and result.failed == 0


def test_the_next_token_loss_is_one_mean_over_every_batch():
    model = tiny_gpt()
    g = torch.Generator().manual_seed(5)
    x, y = torch.randint(11, (5, 8), generator=g), torch.randint(11, (5, 8), generator=g)
    with torch.no_grad():
        logits, _ = model(x)
    want = F.cross_entropy(logits.flatten(0, 1), y.flatten()).item()
    assert next_token_loss(model, x, y, batch=2) == pytest.approx(want, rel=1e-6)  # batches of 2, 2 and 1


def test_nothing_to_explain_is_nan_not_a_division_by_zero():
    sae = SparseAutoencoder(SAEConfig(2, 3))
    same = torch.ones(4, 2)  # no variance around the mean
    assert math.isnan(feature_stats(sae, same)["variance_explained"])
