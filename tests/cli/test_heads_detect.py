"""`attnlab heads --detect`: every head's previous-token, induction and duplicate scores for a run."""

import json

import pytest
import torch

from attnlab.runs.checkpoint import load_model
from attnlab.cli import main
from attnlab.config import GPTConfig
from attnlab.labs.induction.scores import detect_heads
from attnlab.io import save_json, save_tensors
from attnlab.model.gpt import GPT
from attnlab.tokenizers import build_tokenizer


@pytest.fixture
def run_dir(tmp_path):
    """A run folder in the training format: a 2-layer, 2-head GPT over the characters of a text."""
    tok = build_tokenizer("char", text="abcdefghijklmnopqrstuvwxyz ")
    config = GPTConfig(vocab_size=tok.vocab_size, max_seq_len=24, d_model=16, n_heads=2, n_layers=2,
                       tie_weights=False)
    torch.manual_seed(0)
    model = GPT(config).eval()
    folder = tmp_path / "run"
    folder.mkdir()
    save_json(folder / "config.json", {"kind": "gpt", "model": config.to_dict(), "train": {}, "tokenizer": "char"})
    save_tensors(folder / "model.safetensors", model.state_dict())
    tok.save(folder / "tokenizer")
    return folder


def cli(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_json_is_every_head_scored_by_the_library(capsys, run_dir):
    rc, out, _ = cli(capsys, "heads", "--detect", "--run", run_dir, "--json", "--batch", "4")
    assert rc == 0
    data = json.loads(out)
    assert list(data) == ["heads"]
    assert [(h["layer"], h["head"]) for h in data["heads"]] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert all(set(h) == {"layer", "head", "previous", "induction", "duplicate"} for h in data["heads"])
    model, _ = load_model(run_dir)
    n = 12  # the default: min(50, context 24 // 2, vocabulary 27)
    assert data["heads"] == detect_heads(model, n, batch=4).rows()


def test_table_best_heads_and_heatmap(capsys, run_dir, tmp_path):
    png = tmp_path / "scores.png"
    rc, out, _ = cli(capsys, "heads", "--detect", "--run", run_dir, "--n", "5", "--bos", "0", "--png", png)
    assert rc == 0
    assert "sequences of 5 random tokens repeated twice, after token 0" in out
    assert out.count("\n") >= 4 + 3  # header lines, one row per head, the three best heads
    assert "best induction head: layer" in out and f"wrote {png}" in out
    assert png.stat().st_size > 0


@pytest.mark.parametrize("argv, match", [
    (["--detect", "--model", "minilm"], "--detect needs --run"),
    (["--detect", "--run", "RUN", "--n", "13"], "--n must be in 2..12"),
    (["--detect", "--run", "RUN", "--bos", "0", "--n", "12"], "--n must be in 2..11"),
    (["--detect", "--run", "RUN", "--bos", "99"], "--bos must be a token id in 0..26"),
    (["some text", "--detect", "--run", "RUN"], "leave out TEXT"),
    (["--run", "RUN"], "heads needs TEXT, --from and --to"),
    (["abc", "--run", "RUN", "--from", "a", "--to", "b", "--json"], "--json goes with --detect"),
])
def test_bad_combinations_are_one_line(capsys, run_dir, argv, match):
    rc, _, err = cli(capsys, "heads", *[str(run_dir) if a == "RUN" else a for a in argv])
    assert rc == 2 and match in err and len(err.strip().splitlines()) == 1, err


def test_ranking_mode_still_works(capsys, run_dir):
    rc, out, _ = cli(capsys, "heads", "abc abd", "--run", run_dir, "--from", "d", "--to", "b")
    assert rc == 0 and "heads ranked" in out
