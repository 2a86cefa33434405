"""Every command's bad inputs: one line, exit 2, and the workspace unchanged.

A table of (command, id, argv, words, prepare), run in this process through `attnlab.cli.main`
in a copy of one workspace (a corpus, a trained run, its Hugging Face export, a learner's own
project folder). Each case asserts exit code 2, exactly one stderr line `attnlab: error: ...`
holding `words`, no traceback, and every file and folder of the workspace byte-identical
(nothing written, changed or deleted). Sizes are ones no machine holds, refused by the memory
check before anything is allocated; endless inputs (/dev/zero, an endless stdin) are refused at
their read limit.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from train_helpers import TEXT, TINY, cli_main, copy_workspace, one_thread, refused_in_one_line, snapshot  # noqa: E402,F401 (one_thread: an autouse fixture)

from attnlab.runs.checkpoint import checkpoint_dir  # noqa: E402

RUN = "runs/r"
TB = 10**12
Q3K1 = ["--q", "[[1,0],[0,1],[1,1]]", "--k", "[[1,0]]", "--v", "[[1,0]]"]
QKV = ["--q", "[[1,0],[0,1]]", "--k", "[[1,0],[0,1]]", "--v", "[[1,0],[0,1]]"]
NEW = ["train", "--corpus", "corpus.txt", "--out-dir", "runs", "--name", "n", *TINY]
LAB = ["induction", "--steps", "2", "--eval-interval", "1", "--out-dir", "lab"]


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    ws = tmp_path_factory.mktemp("commands")
    (ws / "corpus.txt").write_text(TEXT, encoding="utf-8")
    (ws / "latin1.txt").write_bytes("caf\xe9\n".encode("latin-1") * 50)
    (ws / "notxt").mkdir()
    (ws / "notxt" / "a.md").write_text("not a .txt file\n")
    (ws / "proj").mkdir()  # a learner's own folder
    (ws / "proj" / "notes.md").write_text("my notes\n")
    cwd = os.getcwd()
    os.chdir(ws)
    try:
        assert cli_main(["train", "--corpus", "corpus.txt", "--out-dir", "runs", "--name", "r", *TINY]) == 0
        assert cli_main(["export-hf", "--run", RUN, "--out", "hf"]) == 0
    finally:
        os.chdir(cwd)
    return ws


@pytest.fixture
def ws(template, tmp_path, monkeypatch) -> Path:
    return copy_workspace(template, tmp_path, monkeypatch)


# --- how a case prepares the workspace ---------------------------------------------------------

def write(path: str, content: str | bytes):
    def prepare(ws: Path) -> None:
        (ws / path).parent.mkdir(parents=True, exist_ok=True)
        (ws / path).write_bytes(content.encode() if isinstance(content, str) else content)
    return prepare


def json_file(path: str, data: object):
    return write(path, json.dumps(data))


def hf_config(**changes):
    def prepare(ws: Path) -> None:
        path = ws / "hf" / "config.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))
    return prepare


def hf_weights(change):
    """hf/model.safetensors with `change(tensors)` applied (its header says the new shapes)."""
    def prepare(ws: Path) -> None:
        from safetensors.torch import load_file, save_file

        tensors = load_file(str(ws / "hf" / "model.safetensors"))
        change(tensors)
        save_file(tensors, str(ws / "hf" / "model.safetensors"), metadata={"format": "pt"})
    return prepare


def narrower_wte(tensors) -> None:
    tensors["transformer.wte.weight"] = tensors["transformer.wte.weight"][:, :8].contiguous()


def pickled_weights(ws: Path) -> None:
    import pickle

    (ws / "hf" / "model.safetensors").unlink()
    (ws / "hf" / "pytorch_model.bin").write_bytes(pickle.dumps({"x": shutil.rmtree}))  # a callable: a pickle payload


def pickled_optimizer(ws: Path) -> None:
    import pickle

    (checkpoint_dir(ws / RUN) / "optimizer.pt").write_bytes(pickle.dumps({"optimizer": shutil.rmtree}))


# (command, id, argv, what the error line must say, how to prepare the workspace)
CASES = [
    # shapes: every size goes through the memory check before a tensor is made
    ("shapes", "seq-len 10**6", ["shapes", "--seq-len", "1000000"], "of memory", None),
    ("shapes", "vocab-size 10**10", ["shapes", "--vocab-size", str(10**10)], "of memory", None),
    ("shapes", "vocab-size 1e10 text", ["shapes", "--vocab-size", "1e10"], "invalid int value", None),
    ("shapes", "batch-size 10**9", ["shapes", "--batch-size", "1000000000"], "of memory", None),
    ("shapes", "n-layers 10**6", ["shapes", "--n-layers", "1000000"], "of memory", None),
    ("shapes", "d-model 2**30", ["shapes", "--d-model", str(2**30), "--n-heads", "1"], "of memory", None),
    ("shapes", "d-ff 10**12", ["shapes", "--d-ff", str(TB)], "of memory", None),
    ("shapes", "seq-len 0", ["shapes", "--seq-len", "0"], "--seq-len must be >= 1", None),
    ("shapes", "batch-size -1", ["shapes", "--batch-size", "-1"], "--batch-size must be >= 1", None),
    ("shapes", "n-heads 3", ["shapes", "--n-heads", "3"], "divisible", None),
    ("shapes", "n-layers 0", ["shapes", "--n-layers", "0"], "n_layers", None),
    ("shapes", "norm middle", ["shapes", "--norm", "middle"], "invalid choice", None),
    # corpora
    ("corpora", "unknown flag", ["corpora", "--all"], "unrecognized", None),
    ("corpora", "extra argument", ["corpora", "shakespeare"], "unrecognized", None),
    # train: endless or odd inputs, read with a limit
    ("train", "config /dev/zero", [*NEW, "--config", "/dev/zero"], "longer than 1 MiB", None),
    ("train", "config not UTF-8", [*NEW, "--config", "latin1.txt"], "not valid TOML", None),
    ("train", "config is a folder", [*NEW, "--config", "notxt"], "notxt", None),
    ("train", "corpus not UTF-8", [*NEW[:2], "latin1.txt", *NEW[3:]], "not UTF-8", None),
    ("train", "corpus folder without .txt", [*NEW[:2], "notxt", *NEW[3:]], "no .txt files", None),
    ("train", "corpus /dev/null", [*NEW[:2], "/dev/null", *NEW[3:]], "/dev/null", None),
    ("train", "eval-iters 0", [*NEW, "--eval-iters", "0"], "eval_iters", None),
    ("train", "grad-accum-steps 0", [*NEW, "--grad-accum-steps", "0"], "grad_accum_steps", None),
    ("train", "weight-decay nan", [*NEW, "--weight-decay", "nan"], "weight_decay", None),
    ("train", "n-layers 10**6", [*NEW, "--n-layers", "1000000"], "of memory", None),
    ("train", "block-size 10**7", [*NEW, "--block-size", "10000000"], "too short", None),
    ("train", "resume a pickled optimizer.pt", [*NEW[:6], "r", *TINY, "--resume"], "never runs a pickle",
     pickled_optimizer),
    # ladder
    ("ladder", "steps 0", ["ladder", "--steps", "0", "--out-dir", "lad"], "max_iters", None),
    ("ladder", "eval-iters 0", ["ladder", "--eval-iters", "0", "--out-dir", "lad"], "eval", None),
    ("ladder", "threads -1", ["ladder", "--threads", "-1", "--out-dir", "lad"], "threads", None),
    ("ladder", "corpus missing", ["ladder", "--corpus", "missing.txt", "--out-dir", "lad"], "missing.txt", None),
    # generate
    ("generate", "max-new-tokens -1", ["generate", "--run", RUN, "--max-new-tokens", "-1"], "max-new-tokens", None),
    ("generate", "num-samples 0", ["generate", "--run", RUN, "--num-samples", "0"], "num-samples", None),
    ("generate", "top-k -1", ["generate", "--run", RUN, "--top-k", "-1"], "top-k", None),
    ("generate", "run is a user's folder", ["generate", "--run", "proj"], "proj", None),
    ("generate", "device tpu", ["generate", "--run", RUN, "--device", "tpu"], "tpu", None),
    # next: generate's checks of sampling, and its own
    ("next", "n 0", ["next", "--run", RUN, "--n", "0"], "--n is 0", None),
    ("next", "top-p 2", ["next", "--run", RUN, "--top-p", "2"], "--top-p must be in (0, 1]", None),
    ("next", "temperature nan", ["next", "--run", RUN, "--temperature", "nan"], "temperature", None),
    ("next", "prompt outside the vocabulary", ["next", "--run", RUN, "--prompt", "세계"], "vocabulary", None),
    ("next", "run missing", ["next", "--run", "runs/nope"], "runs/nope", None),
    # attention
    ("attention", "layer 99", ["attention", "First", "--run", RUN, "--layer", "99"], "layer", None),
    ("attention", "head 99", ["attention", "First", "--run", RUN, "--head", "99"], "head", None),
    ("attention", "html into a folder", ["attention", "First", "--run", RUN, "--html", "proj"], "directory", None),
    ("attention", "text outside the vocabulary", ["attention", "세계", "--run", RUN], "vocabulary", None),
    # heads
    ("heads", "detect batch 10**9", ["heads", "--run", RUN, "--detect", "--batch", "1000000000"], "of memory", None),
    ("heads", "detect batch 0", ["heads", "--run", RUN, "--detect", "--batch", "0"], "--batch must be >= 1", None),
    ("heads", "detect without a run", ["heads", "--detect", "--model", "minilm"], "--detect needs --run", None),
    ("heads", "detect n 1", ["heads", "--run", RUN, "--detect", "--n", "1"], "--n must be in", None),
    ("heads", "detect bos 10**6", ["heads", "--run", RUN, "--detect", "--bos", "1000000"], "--bos", None),
    ("heads", "detect with a text", ["heads", "First", "--run", RUN, "--detect"], "leave out TEXT", None),
    ("heads", "top -1", ["heads", "First", "--run", RUN, "--from", "r", "--to", "F", "--top", "-1"], "--top", None),
    ("heads", "json without detect", ["heads", "First", "--run", RUN, "--from", "r", "--to", "F", "--json"],
     "--json goes with --detect", None),
    ("heads", "from not a token", ["heads", "First", "--run", RUN, "--from", "z", "--to", "F"], "not a token", None),
    # explain: files with a size limit, values checked like the web lab checks them
    ("explain", "json /dev/zero", ["explain", "--json", "/dev/zero"], "longer than 64 MiB", None),
    ("explain", "json scale big", ["explain", "--json", "e.json"], "scale must be a finite number",
     json_file("e.json", {"q": [[1, 0]], "k": [[1, 0]], "v": [[1, 0]], "scale": "big"})),
    ("explain", "json scale true", ["explain", "--json", "e.json"], "scale must be a finite number",
     json_file("e.json", {"q": [[1, 0]], "k": [[1, 0]], "v": [[1, 0]], "scale": True})),
    ("explain", "json tokens 5", ["explain", "--json", "e.json"], "tokens must be a list of strings",
     json_file("e.json", {"q": [[1, 0]], "k": [[1, 0]], "v": [[1, 0]], "tokens": 5})),
    ("explain", "json tokens numbers", ["explain", "--json", "e.json"], "tokens must be a list of strings",
     json_file("e.json", {"q": [[1, 0]], "k": [[1, 0]], "v": [[1, 0]], "tokens": [1]})),
    ("explain", "json weighted-sum labels", ["explain", "--json", "e.json"], "2 token labels for 1 rows",
     json_file("e.json", {"weights": [[1]], "values": [[1, 0]], "tokens": ["a", "b"]})),
    ("explain", "json not an object", ["explain", "--json", "e.json"], "JSON object", json_file("e.json", [1, 2])),
    ("explain", "json not UTF-8", ["explain", "--json", "latin1.txt"], "not UTF-8", None),
    ("explain", "json missing", ["explain", "--json", "nope.json"], "nope.json", None),
    ("explain", "json q text", ["explain", "--json", "e.json"], "q must be a list of numbers",
     json_file("e.json", {"q": "abc", "k": [[1, 0]], "v": [[1, 0]]})),
    ("explain", "scale nan", ["explain", *QKV, "--scale", "nan"], "--scale must be a finite number, got nan", None),
    ("explain", "scale inf", ["explain", *QKV, "--scale", "inf"], "--scale must be a finite number, got inf", None),
    ("explain", "scale -inf", ["explain", *QKV, "--scale=-inf"], "--scale must be a finite number", None),
    ("explain", "causal 3 queries 1 key", ["explain", *Q3K1, "--causal"], "3 queries and 1 key", None),
    ("explain", "weights nan", ["explain", "--weights", "[[NaN]]", "--values", "[[1]]"], "NaN", None),
    ("explain", "weights without values", ["explain", "--weights", "[[1]]"], "needs both", None),
    ("explain", "decimals 11", ["explain", "--decimals", "11"], "--decimals", None),
    ("explain", "token 5 of 3", ["explain", "--token", "5"], "--token 5", None),
    ("explain", "vectors and a run", ["explain", *QKV, "--run", RUN], "not both", None),
    ("explain", "run without text", ["explain", "--run", RUN], "--text", None),
    ("explain", "run layer 9", ["explain", "--run", RUN, "--text", "First", "--layer", "9"], "layer", None),
    # lens
    ("lens", "run missing", ["lens", "First", "--run", "runs/nope"], "runs/nope", None),
    ("lens", "html folder missing", ["lens", "First", "--run", RUN, "--html", "nowhere/l.html"], "nowhere", None),
    ("lens", "text outside the vocabulary", ["lens", "세계", "--run", RUN], "vocabulary", None),
    # ablate
    ("ablate", "batches 10**9", ["ablate", "--run", RUN, "--split", "val", "--batches", "1000000000"], "of memory",
     None),
    ("ablate", "batches 0", ["ablate", "--run", RUN, "--split", "val", "--batches", "0"], "--batches", None),
    ("ablate", "heads unreadable", ["ablate", "--run", RUN, "--text", "First", "--heads", "x"], "--heads", None),
    ("ablate", "heads twice", ["ablate", "--run", RUN, "--text", "First", "--heads", "0.1,0.1"], "twice", None),
    ("ablate", "heads out of range", ["ablate", "--run", RUN, "--text", "First", "--heads", "9.9"], "layer", None),
    ("ablate", "corpus without split", ["ablate", "--run", RUN, "--text", "First", "--corpus", "corpus.txt"],
     "--corpus goes with --split", None),
    ("ablate", "one-token text", ["ablate", "--run", RUN, "--text", "F"], "two tokens", None),
    ("ablate", "split test", ["ablate", "--run", RUN, "--split", "test"], "invalid choice", None),
    # why: the same check of from/to/vs as the web lab's /api/why
    ("why", "vs after from", ["why", "First", "--run", RUN, "--from", "r", "--to", "F", "--vs", "t"],
     "'vs' (token 4) comes after 'from' (token 2)", None),
    ("why", "to after from", ["why", "First", "--run", RUN, "--from", "i", "--to", "t"], "'to' (token 4) comes after",
     None),
    ("why", "vs not a token", ["why", "First", "--run", RUN, "--from", "t", "--to", "F", "--vs", "q"], "--vs 'q'",
     None),
    ("why", "from missing", ["why", "First", "--run", RUN, "--to", "F"], "--from", None),
    # induction: the deepest model checked before the first is built
    ("induction", "layers 100000", [*LAB, "--layers", "100000"], "of memory", None),
    ("induction", "layers 0", [*LAB, "--layers", "0"], "--layers must be positive", None),
    ("induction", "layers text", [*LAB, "--layers", "one"], "--layers must be comma-separated", None),
    ("induction", "steps 0", [*LAB, "--steps", "0"], "--steps", None),
    ("induction", "threads -1", [*LAB, "--threads", "-1"], "--threads", None),
    ("induction", "out-dir a user's folder", [*LAB[:-1], "proj"], "proj", None),
    # seq2seq
    ("seq2seq", "steps 0", ["seq2seq", "--steps", "0", "--out", "s"], "steps", None),
    ("seq2seq", "d-model 10**6", ["seq2seq", "--d-model", "1000000", "--out", "s"], "d_model 1000000", None),
    ("seq2seq", "out a user's folder", ["seq2seq", "--out", "proj", "--steps", "1"], "proj", None),
    # export-hf
    ("export-hf", "out into its own run", ["export-hf", "--run", RUN, "--out", f"{RUN}/exported"], "", None),
    ("export-hf", "out is a file", ["export-hf", "--run", RUN, "--out", "corpus.txt"], "corpus.txt", None),
    ("export-hf", "run is a user's folder", ["export-hf", "--run", "proj", "--out", "e"], "proj", None),
    ("export-hf", "run is an export, not a run", ["export-hf", "--run", "hf", "--out", "e"], "", None),
    # import-hf: the headers against config.json, before anything is built
    ("import-hf", "n_layer 100000 beside one layer", ["import-hf", "hf", "--out", "imp"],
     "the weights hold 1 layer, but config.json says n_layer 100000", hf_config(n_layer=100000)),
    ("import-hf", "n_layer 2 beside one layer", ["import-hf", "hf", "--out", "imp"], "n_layer 2",
     hf_config(n_layer=2)),
    ("import-hf", "narrower wte in the header", ["import-hf", "hf", "--out", "imp"], "expected shape",
     hf_weights(narrower_wte)),
    ("import-hf", "a weight missing in the header", ["import-hf", "hf", "--out", "imp"], "missing",
     hf_weights(lambda t: t.pop("transformer.ln_f.bias"))),
    ("import-hf", "an extra weight in the header", ["import-hf", "hf", "--out", "imp"], "unexpected",
     hf_weights(lambda t: t.update(extra=t["transformer.ln_f.bias"].clone()))),
    ("import-hf", "pickled pytorch_model.bin", ["import-hf", "hf", "--out", "imp"], "never runs a pickle",
     pickled_weights),
    ("import-hf", "damaged safetensors header", ["import-hf", "hf", "--out", "imp"], "not a valid safetensors",
     write("hf/model.safetensors", b"\xff" * 64)),
    ("import-hf", "config.json not JSON", ["import-hf", "hf", "--out", "imp"], "not valid JSON",
     write("hf/config.json", "{oops")),
    ("import-hf", "folder missing", ["import-hf", "nope", "--out", "imp"], "nope", None),
    ("import-hf", "out into its own folder", ["import-hf", "hf", "--out", "hf/imp"], "", None),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}: {c[1]}" for c in CASES])
def test_bad_input_is_one_line_and_changes_nothing(ws, capsys, case):
    command, _, argv, words, prepare = case
    assert argv[0] == command  # the case covers the command it names
    if prepare is not None:
        prepare(ws)
    assert refused_in_one_line(argv, ws, capsys, words) == 2


class EndlessStdin:
    """`yes` on stdin: b"y\\n" for ever."""

    def __init__(self):
        self.buffer = self

    def read(self, n: int = -1) -> bytes:
        assert n > 0, "read whole: this stdin never ends"
        return b"y\n" * (n // 2) + b"y" * (n % 2)


def test_yes_piped_into_train_corpus_stdin_is_refused_at_the_read_limit(ws, capsys, monkeypatch):
    import attnlab.train.data

    monkeypatch.setattr(attnlab.train.data, "CORPUS_LIMIT", 2**20)  # 1 GiB of `yes` is too slow for a test
    monkeypatch.setattr(sys, "stdin", EndlessStdin())
    before = snapshot(ws)
    assert cli_main(["train", "--corpus", "-", "--out-dir", "runs", "--name", "n", *TINY]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "attnlab: error: stdin (--corpus -) is longer than 1 MiB, the most attnlab reads from it"
    assert snapshot(ws) == before


def nan_run(ws: Path) -> None:
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    path = checkpoint_dir(ws / RUN) / "model.safetensors"
    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata()
    tensors = load_file(str(path))
    tensors["token_embedding_table.weight"][:] = float("nan")
    save_file(tensors, str(path), metadata=metadata)


@pytest.mark.parametrize("argv", [["lens", "First", "--run", RUN, "--json"],
                                  ["why", "First", "--run", RUN, "--from", "r", "--to", "F", "--json"]],
                         ids=["lens --json", "why --json"])
def test_lens_and_why_json_on_a_run_whose_weights_hold_nan_are_strict_json_with_a_warning(ws, capsys, argv):
    nan_run(ws)
    assert cli_main(argv) == 0
    out, err = capsys.readouterr()
    data = json.loads(out, parse_constant=lambda name: pytest.fail(f"{name} is not JSON"))
    assert "NaN" not in out and "Infinity" not in out and data["tokens"] == ["F", "i", "r", "s", "t"]
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("attnlab: warning: ") and "NaN or infinite" in lines[0], err
    values = json.dumps(data["top_p"] if argv[0] == "lens" else data["raw"])
    assert "null" in values


def test_why_vs_later_than_from_is_the_web_labs_refusal():
    """The CLI and /api/why call one checker, so they refuse the same triples with the same code."""
    from attnlab.errors import UserError
    from attnlab.why.answers import check_positions

    with pytest.raises(UserError) as refused:
        check_positions(5, 2, 0, 4, causal=True)
    assert refused.value.code == "future_token" and "'vs' (token 4)" in str(refused.value)
    check_positions(5, 2, 0, 4, causal=False)  # an encoder sees every token: no refusal


def test_a_pickled_checkpoint_is_one_line_without_torchs_warnings(tmp_path, capsys):
    import pickle
    import warnings

    from attnlab.io import load_torch

    (tmp_path / "optimizer.pt").write_bytes(pickle.dumps({"optimizer": shutil.rmtree}))
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        with pytest.raises(ValueError, match="never runs a pickle"):
            load_torch(tmp_path / "optimizer.pt")
    assert [str(w.message) for w in shown] == []


def test_read_text_limited_names_the_limit(tmp_path):
    from attnlab.errors import UserError
    from attnlab.io import read_text_limited

    (tmp_path / "a.json").write_text("x" * 2000)
    assert read_text_limited(tmp_path / "a.json", 2000, "the file") == "x" * 2000
    with pytest.raises(UserError, match=r"the file .*a.json is longer than 1 KiB, the most attnlab reads"):
        read_text_limited(tmp_path / "a.json", 1024, "the file")


def test_the_tables_cover_every_command_and_reach_200_cases():
    """Every command has bad-input cases in some table (each case names its command first in its
    argv); serve's are the web lab's (tests/serve), grokking's table names only its flags."""
    from cli import test_bad_inputs, test_bad_inputs_more  # tests/ is on the path: its folders are packages
    from labs.grokking import test_bad_inputs as test_grokking
    from labs.sae import test_bad_inputs as test_sae_bad_inputs
    from labs.superposition import test_bad_inputs as test_superposition
    from why import test_patch_bad_inputs

    from attnlab.cli import COMMANDS

    tables = {"commands": [c[0] for c in CASES],
              "bad_inputs": [c[1][0] for c in test_bad_inputs.CASES],
              "bad_inputs_more": [c[1][0] for c in test_bad_inputs_more.CASES],
              "patch": [c[1][0] for c in test_patch_bad_inputs.CASES],
              "sae": [c[1][0] for c in test_sae_bad_inputs.CASES],
              "superposition": [c[1][0] for c in test_superposition.BAD],
              "grokking": ["grokking" for _ in test_grokking.BAD]}
    covered = {command for commands in tables.values() for command in commands}
    assert set(COMMANDS) - covered <= {"serve"}, set(COMMANDS) - covered
    assert sum(len(commands) for commands in tables.values()) >= 200
    assert len({(c[0], c[1]) for c in CASES}) == len(CASES)
