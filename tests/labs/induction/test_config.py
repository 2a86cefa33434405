"""attnlab.labs.induction.config: the settings' checks (in Python and as flags) and the models'
TrainConfig."""

import pytest

from train_helpers import one_thread  # noqa: E402,F401 (an autouse fixture)

from attnlab.cli import main
from attnlab.labs.induction.config import LabConfig


def test_lab_config_checks_the_repeat_fits():
    with pytest.raises(ValueError, match="n \\(40\\)"):
        LabConfig(n=40)
    with pytest.raises(ValueError, match="layers"):
        LabConfig(layers=())


@pytest.mark.parametrize("argv, match", [(["--layers", "1,x"], "comma-separated"), (["--layers", "0"], "positive"),
                                         (["--steps", "0"], "--steps")])
def test_induction_cli_bad_flags_are_one_line(capsys, tmp_path, argv, match):
    rc = main(["induction", "--out-dir", str(tmp_path), *argv])
    err = capsys.readouterr().err
    assert rc == 2 and match in err and len(err.strip().splitlines()) == 1


def test_each_model_is_attention_only_with_a_constant_rate_after_the_warm_up():
    cfg = LabConfig(layers=(1, 3), d_model=32, n_heads=2, steps=50, learning_rate=1e-3, warmup_iters=5, seed=7)
    train = cfg.train_config(3)
    assert (train.n_layers, train.n_heads, train.d_model, train.block_size, train.ffn) == (3, 2, 32, 32, False)
    assert (train.learning_rate, train.min_lr, train.warmup_iters, train.max_iters) == (1e-3, 1e-3, 5, 50)
    assert (train.seed, train.device, train.tie_weights) == (7, "cpu", False)
    model = train.model_config(cfg.vocab_size)
    assert (model.vocab_size, model.max_seq_len, model.ffn) == (32, 32, False)


@pytest.mark.parametrize("fields, words", [(dict(n=1), r"n \(1\) must be in 2 .. min\(vocab_size, block_size // 2\) "
                                                        r"= 16"),
                                           (dict(n=20, vocab_size=18), r"= 16"),
                                           (dict(threshold=1.0), r"threshold must be in \(0, 1\)"),
                                           (dict(random_draws=0), "random_draws must be >= 1"),
                                           (dict(eval_interval=0), "--eval-interval must be >= 1"),
                                           (dict(layers=(2, -1)), r"positive layer counts, got \(2, -1\)")])
def test_bad_settings_say_which(fields, words):
    with pytest.raises(ValueError, match=words):
        LabConfig(**fields)


def test_layers_given_as_a_list_become_a_tuple():
    assert LabConfig(layers=[2, 1]).layers == (2, 1)
