"""attnlab.labs.sae.model: the encoder and decoder by their formulas, unit decoder rows, the loss by
hand, SAELens's tensor names and the config's checks."""

from __future__ import annotations

import doctest

import pytest
import torch

from attnlab.errors import UserError
from attnlab.labs.sae import model as sae_model
from attnlab.labs.sae.model import SAEConfig, SparseAutoencoder, sae_loss, sae_tensors


def test_the_worked_examples_in_the_docstrings():
    result = doctest.testmod(sae_model)
    assert result.attempted > 0 and result.failed == 0


def test_encode_and_decode_follow_their_formulas_with_the_pre_bias():
    g = torch.Generator().manual_seed(0)
    sae = SparseAutoencoder(SAEConfig(3, 5), g)
    with torch.no_grad():
        sae.b_enc.copy_(torch.randn(5, generator=g))
        sae.b_dec.copy_(torch.randn(3, generator=g))
    x = torch.randn(4, 3, generator=g)
    W_enc, W_dec, b_enc, b_dec = (t.detach() for t in (sae.W_enc, sae.W_dec, sae.b_enc, sae.b_dec))
    for n in range(4):
        f = [max(0.0, sum((x[n, i] - b_dec[i]).item() * W_enc[i, j].item() for i in range(3)) + b_enc[j].item())
             for j in range(5)]
        x_hat = [sum(f[j] * W_dec[j, i].item() for j in range(5)) + b_dec[i].item() for i in range(3)]
        got_hat, got_f = sae(x[n:n + 1])
        assert got_f[0].tolist() == pytest.approx(f, abs=1e-5) and got_hat[0].tolist() == pytest.approx(x_hat, abs=1e-5)


def test_a_new_sae_has_unit_decoder_rows_and_their_transpose_as_encoder():
    sae = SparseAutoencoder(SAEConfig(4, 6), torch.Generator().manual_seed(1))
    torch.testing.assert_close(sae.W_dec.detach().norm(dim=1), torch.ones(6))
    torch.testing.assert_close(sae.W_enc.detach(), sae.W_dec.detach().t())
    assert (sae.b_enc == 0).all() and (sae.b_dec == 0).all()
    with torch.no_grad():
        sae.W_dec.mul_(torch.arange(1.0, 7.0)[:, None])  # rows of norm 1..6
        sae.W_dec[2].zero_()  # a zero row stays zero, not NaN
    sae.normalise_decoder()
    norms = sae.W_dec.detach().norm(dim=1)
    assert norms[2] == 0 and torch.allclose(norms[torch.arange(6) != 2], torch.ones(5))


def test_the_loss_is_squared_error_plus_l1_averaged_over_the_batch():
    x = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
    x_hat = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    f = torch.tensor([[0.5, 1.5, 0.0], [2.0, 0.0, 0.0]])
    # errors 4 and 2 (mean 3); L1 norms 2 and 2 (mean 2)
    assert sae_loss(x, x_hat, f, l1=0.25).item() == pytest.approx(3 + 0.25 * 2)


def test_a_file_holds_four_tensors_under_saelens_names():
    tensors = sae_tensors(SparseAutoencoder(SAEConfig(3, 12)))
    assert {k: tuple(v.shape) for k, v in tensors.items()} == {"W_enc": (3, 12), "b_enc": (12,), "W_dec": (12, 3),
                                                               "b_dec": (3,)}
    assert not any(v.requires_grad for v in tensors.values())
    assert SAEConfig(3, 12).to_dict() == {"d_in": 3, "features": 12}


@pytest.mark.parametrize("fields", [dict(d_in=0, features=4), dict(d_in=3, features=True), dict(d_in=2.5, features=4)])
def test_a_bad_size_is_one_user_error(fields):
    with pytest.raises(UserError, match="must be a positive integer"):
        SAEConfig(**fields)
