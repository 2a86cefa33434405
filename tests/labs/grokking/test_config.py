"""attnlab.labs.grokking.config: primes, the split's check, the paper's model and optimiser, and the
settings' modes."""

from __future__ import annotations

import doctest

import pytest

from attnlab.errors import UserError
from attnlab.labs.grokking import config
from attnlab.labs.grokking.config import GrokConfig, GrokSettings, check_split, is_prime


def test_the_worked_example_in_the_docstring():
    result = doctest.testmod(config)
    assert result.attempted > 0 and result.failed == 0


def test_is_prime_agrees_with_a_sieve():
    n = 200
    sieve = [False, False] + [True] * (n - 2)
    for i in range(2, n):
        if sieve[i]:
            for j in range(i * i, n, i):
                sieve[j] = False
    assert [is_prime(i) for i in range(n)] == sieve
    assert not is_prime(-7)


def test_check_split_counts_the_training_pairs_and_needs_both_sides():
    assert check_split(113, 0.3) == int(0.3 * 113 * 113) == 3830
    assert check_split(3, 0.999) == 8  # 8 of 9 pairs to train on, one left for the test
    with pytest.raises(UserError, match="leaves 0 of the 9 pairs for training and 9 for the test"):
        check_split(3, 0.05)
    with pytest.raises(UserError, match="leaves 9 of the 9 pairs"):
        check_split(3, 1.0)


def test_the_model_and_optimiser_are_nanda_et_als():
    cfg = GrokConfig(p=7, train_fraction=0.5, steps=40, lr=2e-3, weight_decay=0.5, eval_interval=5)
    train = cfg.train_config("bf16")
    assert (train.n_layers, train.n_heads, train.d_model, train.d_ff, train.block_size) == (1, 4, 128, 512, 3)
    assert (train.activation, train.norm, train.tie_weights, train.qkv_bias, train.init) == (
        "relu", "none", False, False, "lecun")
    assert train.batch_size == int(0.5 * 7 * 7) == 24  # full batch: every training pair each step
    assert (train.max_iters, train.learning_rate, train.min_lr, train.warmup_iters) == (40, 2e-3, 2e-3, 10)
    assert (train.weight_decay, train.beta1, train.beta2, train.grad_clip) == (0.5, 0.9, 0.98, 0.0)
    assert (train.eval_interval, train.dtype, train.corpus) == (5, "bf16", "modular-addition-7")
    model = cfg.model_config()
    assert (model.vocab_size, model.max_seq_len, model.n_layers, model.d_model) == (8, 3, 1, 128)  # 0..6 and '='


@pytest.mark.parametrize("fields, words", [(dict(p=True), "--p must be a prime"), (dict(p=9), "--p must be a prime"),
                                           (dict(dtype="fp16"), "--dtype must be one of"),
                                           (dict(lr=float("inf")), "--lr must be > 0"),
                                           (dict(weight_decay=float("nan")), "--weight-decay >= 0")])
def test_bad_settings_are_one_user_error(fields, words):
    with pytest.raises(UserError, match=words):
        GrokConfig(**fields)


def test_the_settings_mode_and_their_lab_part():
    assert GrokSettings().mode == "new"
    assert GrokSettings(resume=True).mode == "resume" and GrokSettings(overwrite=True).mode == "overwrite"
    with pytest.raises(UserError, match="exclude each other"):
        GrokSettings(resume=True, overwrite=True)
    settings = GrokSettings(p=11, steps=7, seed=3, out_dir="runs/x", png=False)
    assert settings.lab_config() == GrokConfig(p=11, steps=7, seed=3)
    assert type(settings.lab_config()) is GrokConfig
