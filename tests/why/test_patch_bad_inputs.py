"""`attnlab patch` and `attnlab attribute`: every bad input is one line and changes nothing.

Each case runs in a copy of one workspace (a trained pre-LN run, a post-LN run) and asserts the
four promises of tests/cli/test_bad_inputs.py: exit code 2, exactly one line on stderr starting
`attnlab: error:`, no traceback, and the workspace exactly as it was."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from train_helpers import TEXT, TINY, cli_main, copy_workspace, one_thread, snapshot  # noqa: F401 (one_thread: an autouse fixture)

RUN, POST = "runs/r", "runs/post"
CLEAN, CORRUPT = "First Citizen: h", "All:    Speak, s"
PATCH = ["patch", "--run", RUN, "--clean", CLEAN, "--corrupt", CORRUPT]


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    ws = tmp_path_factory.mktemp("workspace")
    (ws / "corpus.txt").write_text(TEXT, encoding="utf-8")
    cwd = os.getcwd()
    os.chdir(ws)
    try:
        for name, extra in (("r", []), ("post", ["--norm", "post"])):
            assert cli_main(["train", "--corpus", "corpus.txt", "--out-dir", "runs", "--name", name, *TINY,
                             "--n-layers", "2", *extra]) == 0
    finally:
        os.chdir(cwd)
    return ws


# (id, argv, what the error line must say); each names its command
CASES = [
    ("patch-lengths", ["patch", "--run", RUN, "--clean", CLEAN, "--corrupt", "All: speak"], "16 tokens long and the corrupt text 10"),
    ("patch-answer-unmakeable", [*PATCH, "--answer", "€"], "--answer '€': the tokenizer cannot make it"),
    ("patch-answer-two-tokens", [*PATCH, "--answer", "ou"], "2 tokens"),
    ("patch-wrong-empty", [*PATCH, "--wrong", ""], "--wrong is empty"),
    ("patch-position-high", [*PATCH, "--position", "16"], "--position 16 is out of range"),
    ("patch-position-low", [*PATCH, "--position", "-17"], "--position -17 is out of range"),
    ("patch-path-missing-head", [*PATCH, "--path", "0.2->1.0.k"], "head 0.2 does not exist"),
    ("patch-path-missing-layer", [*PATCH, "--path", "0.0->2.1.q"], "layer 2 does not exist"),
    ("patch-path-backwards", [*PATCH, "--path", "1.0->0.1.v"], "must come before"),
    ("patch-path-unreadable", [*PATCH, "--path", "0.0-1.0"], "SENDER->RECEIVER.INPUT"),
    ("patch-path-post-ln", ["patch", "--run", POST, "--clean", CLEAN, "--corrupt", CORRUPT, "--path", "0.0->1.0.k"], "post-LN"),
    ("patch-path-ablate-alone", [*PATCH, "--path-ablate", "zero"], "--path-ablate goes with --path"),
    ("patch-unknown-point", [*PATCH, "--points", "resid,embed"], "unknown point 'embed'"),
    ("patch-same-answer", [*PATCH, "--answer", "e", "--wrong", "e"], "same token"),
    ("patch-png-into-run", [*PATCH, "--png", f"{RUN}/patch.png"], "inside the run folder"),
    ("patch-html-no-folder", [*PATCH, "--html", "nowhere/p.html"], "does not exist"),
    ("patch-no-run", ["patch", "--run", "runs/none", "--clean", CLEAN, "--corrupt", CORRUPT], "no run folder"),
    ("attribute-post-ln", ["attribute", CLEAN, "--run", POST], "post-LN"),
    ("attribute-position", ["attribute", CLEAN, "--run", RUN, "--position", "40"], "--position 40 is out of range"),
    ("attribute-answer-unmakeable", ["attribute", CLEAN, "--run", RUN, "--answer", "ж"], "cannot make"),
    ("attribute-png-into-run", ["attribute", CLEAN, "--run", RUN, "--png", f"{RUN}/a.png"], "inside the run folder"),
]


@pytest.mark.parametrize("argv, words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_changes_nothing(template, tmp_path, monkeypatch, capsys, argv, words):
    ws = copy_workspace(template, tmp_path, monkeypatch)
    before = snapshot(ws)
    assert cli_main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("attnlab: error:") and "Traceback" not in captured.err, captured.err
    assert words in lines[0], lines[0]
    assert snapshot(ws) == before
