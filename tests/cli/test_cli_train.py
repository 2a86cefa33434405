"""`attnlab train` and `attnlab generate` through `main([...])`: runs, resume, and every bad input."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import sys
from pathlib import Path

import pytest
import torch

from train_helpers import TEXT, TINY, cli_main, one_thread  # noqa: E402,F401 (an autouse fixture)

from attnlab.runs.checkpoint import checkpoint_dir, load_model  # noqa: E402


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


def train_args(tmp_path, corpus, *extra) -> list[str]:
    return ["train", "--corpus", str(corpus), "--out-dir", str(tmp_path / "runs"), "--name", "r", *TINY, *extra]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, corpus) -> Path:
    """One tiny run, trained once; each test gets its own copy."""
    folder = tmp_path_factory.mktemp("trained")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert cli_main(train_args(folder, corpus)) == 0
    finally:
        torch.set_num_threads(threads)
    return folder / "runs" / "r"


@pytest.fixture
def run_dir(trained, tmp_path) -> Path:
    shutil.copytree(trained, tmp_path / "runs" / "r")
    return tmp_path / "runs" / "r"


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_one_line_error(capsys, code: int, *words: str) -> str:
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("attnlab: error:") and "\n" not in err, err
    assert "Traceback" not in err
    for word in words:
        assert word in err, err
    return err


# --- runs ------------------------------------------------------------------------------------

def test_train_then_generate(tmp_path, corpus, capsys):
    assert cli_main(train_args(tmp_path, corpus)) == 0
    run_dir = tmp_path / "runs" / "r"
    out = capsys.readouterr().out
    assert "step 6: train loss" in out and "--- sample" in out
    assert f"attnlab generate --run {run_dir} --prompt" in out
    assert "attnlab attention 'First Citizen: Before we' --run" in out  # the corpus lacks "To be, or not to be"
    config = json.loads((run_dir / "config.json").read_text())
    assert config["kind"] == "gpt" and config["tokenizer"] == "char"
    assert config["model"]["d_model"] == 16 and config["train"]["max_iters"] == 6
    for name in ("state.json", "metrics.jsonl", "loss.png", ".attnlab"):
        assert (run_dir / name).is_file(), name
    for name in ("model.safetensors", "optimizer.pt"):
        assert (checkpoint_dir(run_dir) / name).is_file(), name
    model, tokenizer = load_model(run_dir)
    assert not model.training and model.config.vocab_size == tokenizer.vocab_size

    args = ["generate", "--run", str(run_dir), "--prompt", "First", "--max-new-tokens", "20", "--seed", "3"]
    assert cli_main(args) == 0
    first = capsys.readouterr().out
    assert first.startswith("First") and len(first) >= len("First") + 20
    assert cli_main(args) == 0 and capsys.readouterr().out == first  # same seed, same text
    assert cli_main(["generate", "--checkpoint", str(checkpoint_dir(run_dir) / "model.safetensors"), "--prompt", "All",
                     "--max-new-tokens", "5", "--num-samples", "2", "--top-p", "0.9"]) == 0
    assert capsys.readouterr().out.count("All") >= 2


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


# --- bad input: one line on stderr, exit code 2, nothing overwritten ---------------------------

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


def test_prompt_outside_the_char_vocabulary(run_dir, capsys):
    code = cli_main(["generate", "--run", str(run_dir), "--prompt", "hello 세계"])
    assert_one_line_error(capsys, code, "'세'", "not in the char vocabulary")


@pytest.mark.parametrize("damage", ["missing", "truncated", "corrupted"])
def test_damaged_checkpoint(run_dir, capsys, damage):
    weights = checkpoint_dir(run_dir) / "model.safetensors"
    data = weights.read_bytes()
    if damage == "missing":
        weights.unlink()
    elif damage == "truncated":
        weights.write_bytes(data[: len(data) // 2])
    else:
        weights.write_bytes(b"\xff" * 64 + data[64:])
    code = cli_main(["generate", "--run", str(run_dir)])
    assert_one_line_error(capsys, code, "model.safetensors")


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


def test_missing_run_folder_for_generate(tmp_path, capsys):
    code = cli_main(["generate", "--run", str(tmp_path / "nope")])
    assert_one_line_error(capsys, code, "not found")
    assert not os.path.exists(tmp_path / "nope")
