"""`attnlab train` (cli/train.py) through `main([...])`: a resumed run equals a straight one, TOML and
presets, --help, an old config.json, and every bad input: one line on stderr, exit code 2,
nothing overwritten. The run a test may change is a copy of conftest.py's."""

from __future__ import annotations

import json
import pickle

import pytest
import torch

from cli_helpers import assert_one_line_error, snapshot, train_args
from train_helpers import TINY, cli_main, one_thread  # noqa: F401 (an autouse fixture)

from attnlab.runs.checkpoint import checkpoint_dir


def test_resume_continues_and_matches_a_straight_run(tmp_path, corpus, capsys):
    from attnlab.io import load_tensors

    schedule = ["--lr-decay-iters", "6", "--dropout", "0.1"]  # the same schedule whatever max_iters is
    assert cli_main(train_args(tmp_path, corpus, *schedule, "--max-iters", "3")) == 0
    assert cli_main(train_args(tmp_path, corpus, *schedule, "--resume", "--max-iters", "6")) == 0
    assert "(resuming)" in capsys.readouterr().out
    straight = ["train", "--corpus", str(corpus), "--out-dir", str(tmp_path / "runs"), "--name", "s", *TINY]
    assert cli_main(straight + schedule) == 0
    runs = tmp_path / "runs"
    assert json.loads((runs / "r" / "state.json").read_text())["step"] == 6
    resumed, whole = (load_tensors(checkpoint_dir(runs / name) / "model.safetensors") for name in ("r", "s"))
    assert all(torch.equal(resumed[k], whole[k]) for k in whole)


def test_toml_config_and_presets(tmp_path, corpus, capsys):
    toml = tmp_path / "run.toml"
    toml.write_text('preset = "seed"\nmax_iters = 2\neval_interval = 1\neval_iters = 1\nbatch_size = 2\n'
                    f'block_size = 8\ncorpus = "{corpus}"\n', encoding="utf-8")
    assert cli_main(["train", "--config", str(toml), "--out-dir", str(tmp_path / "runs"), "--sample-tokens", "0",
                     "--no-progress", "--max-iters", "3"]) == 0
    config = json.loads((tmp_path / "runs" / "seed-corpus-char" / "config.json").read_text())
    assert config["train"]["max_iters"] == 3  # the flag beats the file
    assert config["model"]["d_model"] == 64 and config["model"]["activation"] == "relu"  # the seed preset
    assert config["model"]["max_seq_len"] == 8


def test_help_shows_every_field_with_its_default(capsys):
    with pytest.raises(SystemExit):
        cli_main(["train", "--help"])
    out = capsys.readouterr().out
    for flag in ("--block-size", "--learning-rate", "--grad-accum-steps", "--dtype", "--compile", "--no-bias",
                 "--preset", "--resume", "--overwrite", "--config"):
        assert flag in out, flag
    assert "(default: 0.001)" in out and "(default: 64)" in out


# config.json of a run saved before TrainConfig's model fields came from GPTConfig (data fields
# first, no layer_norm_eps): such runs are on disk and must still resume.
OLD_CONFIG = {
    "kind": "gpt",
    "model": {"vocab_size": 54, "max_seq_len": 64, "d_model": 16, "n_heads": 4, "n_layers": 2, "d_ff": None,
              "activation": "gelu_tanh", "norm": "pre", "dropout": 0.0, "bias": True, "qkv_bias": True,
              "tie_weights": True, "lm_head_bias": False, "layer_norm_eps": 1e-05, "bigram": False, "ffn": True,
              "residual": True, "attn_proj": True, "init": "gpt2"},
    "train": {"corpus": "tiny-corpus.txt", "tokenizer": "char", "vocab_size": None, "val_fraction": 0.1,
              "n_layers": 2, "n_heads": 4, "d_model": 16, "block_size": 64, "d_ff": None, "activation": "gelu_tanh",
              "norm": "pre", "dropout": 0.0, "bias": True, "qkv_bias": True, "tie_weights": True,
              "lm_head_bias": False, "bigram": False, "ffn": True, "residual": True, "attn_proj": True,
              "init": "gpt2", "batch_size": 4, "grad_accum_steps": 1, "max_iters": 30, "learning_rate": 0.001,
              "min_lr": 0.0001, "warmup_iters": 2, "lr_decay_iters": None, "weight_decay": 0.1, "beta1": 0.9,
              "beta2": 0.99, "grad_clip": 1.0, "eval_interval": 3, "eval_iters": 2, "log_interval": 1,
              "device": "auto", "dtype": "fp32", "compile": False, "seed": 1337},
    "tokenizer": "char",
}


def test_an_old_run_config_still_loads_and_resumes(tmp_path):
    from attnlab.cli import build_parser
    from attnlab.cli.train import resolve_config
    from attnlab.config import GPTConfig
    from attnlab.runs.checkpoint import read_run_config

    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "config.json").write_text(json.dumps(OLD_CONFIG), encoding="utf-8")
    model, train, tokenizer = read_run_config(tmp_path / "old")
    assert model == GPTConfig.from_dict(OLD_CONFIG["model"]) and tokenizer == "char"
    assert {k: v for k, v in train.to_dict().items() if k in OLD_CONFIG["train"]} == OLD_CONFIG["train"]
    assert train.model_config(vocab_size=54) == model
    args = build_parser().parse_args(["train", "--out-dir", str(tmp_path), "--name", "old", "--resume",
                                      "--max-iters", "60"])
    cfg, run_dir, _ = resolve_config(args)  # no conflict with the saved config
    assert (cfg.max_iters, run_dir) == (60, tmp_path / "old") and cfg.model_config(54) == model


@pytest.mark.parametrize("content, words", [
    (b"", ["empty"]),
    (b"   \n\n", ["empty"]),
    (b"short", ["too short", "block_size"]),
    (b"\x00\x01\x02binary" * 50, ["binary"]),
    ("caf\u00e9 ".encode("latin-1") * 50, ["not UTF-8"]),
])
def test_bad_corpus(tmp_path, capsys, content, words):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(content)
    code = cli_main(train_args(tmp_path, bad))
    assert_one_line_error(capsys, code, *words)
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("flags, words", [
    (["--preset", "gpu9000"], ["unknown preset", "gpu9000"]),
    (["--tokenizer", "morse"], ["unknown tokenizer", "morse"]),
    (["--d-model", "30", "--n-heads", "4"], ["d_model (30) must be divisible by n_heads (4)"]),
    (["--dtype", "fp16", "--device", "cpu"], ["fp16 needs a CUDA device"]),
    (["--vocab-size", "100"], ["vocab_size only applies to the bpe tokenizer"]),
])
def test_bad_settings(tmp_path, corpus, capsys, flags, words):
    code = cli_main(train_args(tmp_path, corpus, *flags))
    assert_one_line_error(capsys, code, *words)
    assert not (tmp_path / "runs").exists()


def test_unknown_corpus(tmp_path, capsys):
    code = cli_main(train_args(tmp_path, "no-such-corpus"))
    assert_one_line_error(capsys, code, "unknown corpus", "no-such-corpus")


def test_unknown_config_key(tmp_path, corpus, capsys):
    toml = tmp_path / "bad.toml"
    toml.write_text("max_iters = 2\nlearnig_rate = 0.1\n", encoding="utf-8")
    code = cli_main(train_args(tmp_path, corpus, "--config", str(toml)))
    assert_one_line_error(capsys, code, "unknown config key", "learnig_rate")


def test_existing_run_folder_needs_resume_or_overwrite(run_dir, tmp_path, corpus, capsys):
    before = snapshot(run_dir)
    code = cli_main(train_args(tmp_path, corpus))
    assert_one_line_error(capsys, code, "already exists", "--resume", "--overwrite")
    assert snapshot(run_dir) == before
    assert cli_main(train_args(tmp_path, corpus, "--overwrite", "--seed", "5")) == 0
    assert json.loads((run_dir / "config.json").read_text())["train"]["seed"] == 5


def test_resume_with_a_conflicting_config(run_dir, tmp_path, corpus, capsys):
    before = snapshot(run_dir)
    code = cli_main(train_args(tmp_path, corpus, "--resume", "--d-model", "32"))
    assert_one_line_error(capsys, code, "conflicting config", "d_model (16 -> 32)")
    assert snapshot(run_dir) == before


def test_resume_of_a_missing_run(tmp_path, corpus, capsys):
    code = cli_main(train_args(tmp_path, corpus, "--resume"))
    assert_one_line_error(capsys, code, "nothing to resume")


class _Payload:
    """Unpickling this would run `open(marker, "w")`: the loader must refuse, not execute."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("target", ["optimizer.pt", "model.safetensors"])
def test_pickle_payload_is_refused_never_run(run_dir, tmp_path, corpus, capsys, target):
    marker = tmp_path / "pwned"
    with open(checkpoint_dir(run_dir) / target, "wb") as f:
        pickle.dump({"optimizer": _Payload(str(marker))}, f)
    if target == "optimizer.pt":
        code = cli_main(train_args(tmp_path, corpus, "--resume", "--max-iters", "8"))
        assert_one_line_error(capsys, code, "optimizer.pt", "could not be loaded safely")
    else:
        torch.save({"x": _Payload(str(marker))}, checkpoint_dir(run_dir) / target)
        code = cli_main(["generate", "--run", str(run_dir)])
        assert_one_line_error(capsys, code, "model.safetensors")
    assert not marker.exists()


def evals(*rows):
    return [{"step": s, "train_loss": t, "val_loss": v} for s, t, v in rows]


def test_overfitting_is_a_val_loss_rising_while_the_train_loss_falls():
    from attnlab.runs.metrics import overfitting

    # the korean-law run: val 2.258 at step 1250, then rising while train falls to 0.85
    rising = evals((1000, 1.2, 2.30), (1250, 1.0, 2.258), (1500, 0.95, 2.27), (1750, 0.9, 2.29), (2000, 0.85, 2.295))
    assert overfitting(rising) == {"best_step": 1250, "best_val": 2.258, "last_val": 2.295}
    assert overfitting(rising[:3]) is None  # one evaluation above the lowest is not yet a rise
    falling = evals((0, 4.0, 4.0), (250, 2.0, 2.1), (500, 1.8, 1.95))
    assert overfitting(falling) is None
    noise = evals((0, 2.0, 2.000), (250, 1.9, 2.005), (500, 1.8, 2.008))  # within 1%: not a rise
    assert overfitting(noise) is None
    both_rise = evals((0, 2.0, 2.0), (250, 2.1, 2.2), (500, 2.2, 2.4))  # train rises too: diverging
    assert overfitting(both_rise) is None
    steps = [{"step": 10, "loss": 3.0}, *rising]  # step records are skipped
    assert overfitting(steps)["best_step"] == 1250


def test_a_run_that_overfits_says_so_and_suggests_dropout_not_more_steps(tmp_path, corpus, capsys, monkeypatch):
    import attnlab.runs.metrics

    monkeypatch.setattr(attnlab.runs.metrics, "overfitting",
                        lambda records: {"best_step": 2, "best_val": 2.258, "last_val": 2.295} if records else None)
    assert cli_main(train_args(tmp_path, corpus, "--sample-tokens", "0")) == 0
    out = capsys.readouterr().out
    assert "overfitting: val loss rose from 2.2580 (step 2) to 2.2950 while train loss fell" in out
    assert "--name r-dropout" in out and "--dropout 0.2" in out and "# train longer" not in out
