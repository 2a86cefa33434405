"""`attnlab grokking` refuses bad input: one line, exit 2, the workspace exactly as it was (the
workspace: conftest.py)."""

from __future__ import annotations

import pytest

from grokking_helpers import G, OLD
from train_helpers import copy_workspace, snapshot

from attnlab.cli import main


BAD = [  # (what, the command's arguments after `attnlab grokking`, words of the message)
    ("p not prime", ["--p", "4"], "--p must be a prime >= 3"),
    ("p below 3", ["--p", "2"], "--p must be a prime >= 3"),
    ("p negative", ["--p", "-7"], "--p must be a prime >= 3"),
    ("p not a number", ["--p", "abc"], "invalid int value"),
    ("fraction 0", ["--train-fraction", "0"], "--train-fraction must be in (0, 1)"),
    ("fraction 1", ["--train-fraction", "1"], "--train-fraction must be in (0, 1)"),
    ("fraction above 1", ["--train-fraction", "1.5"], "--train-fraction must be in (0, 1)"),
    ("fraction nan", ["--train-fraction", "nan"], "--train-fraction must be in (0, 1)"),
    ("no training pair", ["--p", "3", "--train-fraction", "0.05"], "leaves 0 of the 9 pairs for training"),
    ("steps 0", ["--steps", "0"], "--steps must be >= 1"),
    ("steps negative", ["--steps", "-3"], "--steps must be >= 1"),
    ("eval interval 0", ["--eval-interval", "0"], "--eval-interval must be >= 1"),
    ("lr nan", ["--lr", "nan"], "--lr must be > 0"),
    ("weight decay negative", ["--weight-decay", "-1"], "--weight-decay >= 0"),
    ("dtype fp16", ["--dtype", "fp16"], "--dtype must be one of fp32, bf16, auto"),
    ("threads negative", ["--threads", "-1"], "--threads must be >= 0"),
    ("resume and overwrite", ["--resume", "--overwrite", "--out-dir", "runs/g"], "exclude each other"),
    ("a folder attnlab did not make", ["--out-dir", "proj"], "was not created by attnlab"),
    ("... overwritten", ["--out-dir", "proj", "--overwrite"], "was not created by attnlab"),
    ("... resumed", ["--out-dir", "proj", "--resume"], "was not created by attnlab"),
    ("a file", ["--out-dir", "proj/notes.md"], "exists and is not a folder"),
    ("a run of another kind", ["--out-dir", "runs/lm"], "of another kind, not a grokking run"),
    ("... overwritten", ["--out-dir", "runs/lm", "--overwrite"], "of another kind, not a grokking run"),
    ("... resumed", ["--out-dir", "runs/lm", "--resume"], "of another kind, not a grokking run"),
    ("nothing to resume", ["--out-dir", "runs/none", "--resume"], "nothing to resume"),
    ("a grokking run started again", [*OLD, "--out-dir", "runs/g"], "already exists"),
    ("... resumed with other settings", ["--p", "7", *OLD[2:], "--out-dir", "runs/g", "--resume"],
     "was trained with other settings (p=5)"),
    ("... resumed to fewer steps", [*OLD[:2], "--steps", "10", *OLD[4:], "--out-dir", "runs/g", "--resume"],
     "--steps 10 is below the step"),
]


@pytest.mark.parametrize("args, words", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_grokking_input_is_one_line_and_changes_nothing(workspace, tmp_path, monkeypatch, capsys, args, words):
    assert_refused(copy_workspace(workspace, tmp_path, monkeypatch), args, words, capsys)


def assert_refused(ws, args, words, capsys):
    """`attnlab grokking ARGS` in ws: exit 2, one line naming the problem, nothing changed."""
    before = snapshot(ws)
    try:
        code = main([*G, *args] if "--out-dir" in args else [*G, *args, "--out-dir", "runs/new"])
    except SystemExit as exc:  # argparse's exit, after its one line
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("attnlab: error: ") and words in err, err
    assert "Traceback" not in err
    assert snapshot(ws) == before
