"""attnlab.labs.sae.resample: dead features pointed at badly reconstructed inputs, their Adam
moments reset."""

from __future__ import annotations

import torch

from sae_helpers import planted
from train_helpers import one_thread  # noqa: F401 (an autouse fixture)

from attnlab.labs.sae.model import SAEConfig, SparseAutoencoder
from attnlab.labs.sae.resample import resample_dead
from attnlab.labs.sae.train import make_optimizer


def test_resampling_revives_planted_dead_features():
    x, _ = planted(tokens=4000)
    sae = SparseAutoencoder(SAEConfig(16, 32), torch.Generator().manual_seed(0))
    dead = torch.zeros(32, dtype=torch.bool)
    dead[:8] = True
    with torch.no_grad():
        sae.b_enc[dead] = -100.0  # these can never fire
    optimizer = make_optimizer(sae, 1e-3)
    x_hat, f = sae(x)
    (x - x_hat).pow(2).sum(-1).mean().backward()
    optimizer.step()  # Adam now holds moments for every weight
    sae.normalise_decoder()
    assert (sae.encode(x)[:, dead] > 0).sum() == 0
    alive_norm = sae.W_enc.detach()[:, ~dead].norm(dim=0).mean()
    assert resample_dead(sae, optimizer, dead, x, torch.Generator().manual_seed(0)) == 8
    fired = (sae.encode(x)[:, dead] > 0).any(dim=0)
    assert fired.all(), "every resampled feature fires on some input"
    torch.testing.assert_close(sae.W_dec.detach()[dead].norm(dim=1), torch.ones(8))
    torch.testing.assert_close(sae.W_enc.detach()[:, dead].norm(dim=0), torch.full((8,), 0.2 * alive_norm.item()))
    assert (sae.b_enc.detach()[dead] == 0).all()
    state = optimizer.state[sae.W_dec]
    assert (state["exp_avg"][dead] == 0).all() and (state["exp_avg_sq"][dead] == 0).all()
    assert (state["exp_avg"][~dead] != 0).any()
