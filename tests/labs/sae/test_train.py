"""attnlab.labs.sae.train: an SAE trained on planted directions finds them, and training resamples
the dead features."""

from __future__ import annotations

import pytest
import torch

from sae_helpers import planted
from train_helpers import one_thread  # noqa: F401 (an autouse fixture)

from attnlab.errors import UserError
from attnlab.labs.sae.metrics import feature_stats
from attnlab.labs.sae.model import SAEConfig, SparseAutoencoder
from attnlab.labs.sae.settings import TrainSettings
from attnlab.labs.sae.train import train_sae


def test_the_sae_recovers_planted_sparse_directions():
    x, directions = planted()
    sae = SparseAutoencoder(SAEConfig(16, 64), torch.Generator().manual_seed(0))
    train_sae(sae, x, TrainSettings(l1=0.1, lr=3e-3, steps=500, batch_size=128, warmup=20, resample_every=125,
                                    eval_interval=500))
    cos = directions @ sae.W_dec.detach().t()  # (n, F): W_dec rows have unit norm
    torch.testing.assert_close(sae.W_dec.detach().norm(dim=1), torch.ones(64))
    found = (cos.max(dim=1).values >= 0.95).float().mean().item()
    assert found >= 0.9, f"only {found:.0%} of the planted directions found"


def test_training_resamples_the_dead():
    x, _ = planted(tokens=4000)
    sae = SparseAutoencoder(SAEConfig(16, 32), torch.Generator().manual_seed(0))
    events = []
    with torch.no_grad():
        sae.b_enc[:8] = -100.0
    train_sae(sae, x, TrainSettings(l1=1e-2, lr=5e-3, steps=40, batch_size=128, warmup=0, resample_every=20,
                                    eval_interval=40), on_event=lambda kind, info: events.append((kind, info)))
    revived = [info["revived"] for kind, info in events if kind == "resample"]
    assert revived and revived[0] >= 8
    assert feature_stats(sae, x)["dead"] < 8


def test_fewer_activations_than_one_batch_are_refused_before_any_step():
    sae = SparseAutoencoder(SAEConfig(4, 8))
    before = {k: v.clone() for k, v in sae.state_dict().items()}
    with pytest.raises(UserError, match="too few tokens: 10 activations for batches of 16"):
        train_sae(sae, torch.zeros(10, 4), TrainSettings(batch_size=16, steps=2))
    assert all(torch.equal(v, before[k]) for k, v in sae.state_dict().items())


def test_the_pre_bias_starts_at_the_datas_centre_and_decoder_rows_stay_unit():
    x, _ = planted(n=8, d=6, tokens=512)
    sae = SparseAutoencoder(SAEConfig(6, 12), torch.Generator().manual_seed(0))
    events = []
    train_sae(sae, x, TrainSettings(steps=1, batch_size=64, warmup=0, l1_warmup=0, resample_every=0, eval_interval=1,
                                    lr=1e-12), on_event=lambda kind, info: events.append(kind))
    torch.testing.assert_close(sae.b_dec.detach(), x.mean(dim=0), atol=1e-6, rtol=0)  # a step of 1e-12 moves nothing
    torch.testing.assert_close(sae.W_dec.detach().norm(dim=1), torch.ones(12))
    assert not sae.training and "resample" not in events
