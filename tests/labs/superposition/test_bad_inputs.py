"""`attnlab superposition` refuses bad input: one line, exit 2, the workspace exactly as it was."""

from __future__ import annotations

import pytest

from train_helpers import copy_workspace, one_thread, snapshot  # noqa: F401 (one_thread: an autouse fixture)

from attnlab.cli import main


# (id, argv, what the error line must say)
BAD = [
    ("superposition-features-zero", ["superposition", "--features", "0"], "--features"),
    ("superposition-dims-zero", ["superposition", "--dims", "0"], "--dims"),
    ("superposition-probability-zero", ["superposition", "--probability", "0"], "--probability"),
    ("superposition-probability-above-one", ["superposition", "--probability", "1", "1.5"], "--probability"),
    ("superposition-probability-nan", ["superposition", "--probability", "nan"], "--probability"),
    ("superposition-probability-text", ["superposition", "--probability", "often"], "invalid float"),
    ("superposition-importance-zero", ["superposition", "--importance", "0"], "--importance"),
    ("superposition-importance-negative", ["superposition", "--importance", "-0.9"], "--importance"),
    ("superposition-importance-inf", ["superposition", "--importance", "inf"], "--importance"),
    ("superposition-importance-underflow", ["superposition", "--features", "100", "--importance", "0.01"],
     "--importance"),
    ("superposition-importance-huge", ["superposition", "--importance", "1e300"], "--importance"),
    ("superposition-memory", ["superposition", "--features", "100000000", "--importance", "1"], "memory"),
    ("superposition-steps-zero", ["superposition", "--steps", "0"], "--steps"),
    ("superposition-instances-zero", ["superposition", "--instances", "0"], "--instances"),
    ("superposition-batch-zero", ["superposition", "--batch-size", "0"], "--batch-size"),
    ("superposition-lr-negative", ["superposition", "--lr", "-1"], "--lr"),
    ("superposition-seed-negative", ["superposition", "--seed", "-1"], "--seed"),
    ("superposition-threads", ["superposition", "--threads", "-2"], "--threads"),
    ("superposition-png-missing-folder", ["superposition", "--png", "nope/p.png"], "does not exist"),
    ("superposition-png-is-a-folder", ["superposition", "--png", "sub"], "directory"),
    ("superposition-png-suffix", ["superposition", "--png", "p.xyz"], ".xyz"),
]


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    ws = tmp_path_factory.mktemp("workspace")
    (ws / "notes.txt").write_text("mine\n", encoding="utf-8")
    (ws / "sub").mkdir()
    (ws / "sub" / "keep.png").write_bytes(b"not attnlab's")
    return ws


@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_bad_input_is_one_line_and_loses_nothing(template, tmp_path, monkeypatch, capsys, case):
    _, argv, words = case
    ws = copy_workspace(template, tmp_path, monkeypatch)
    before = snapshot(ws)
    try:
        code = main([*argv, "--no-progress"])
    except SystemExit as exc:  # argparse's own exit, after its one line
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("attnlab: error:") and words in lines[0], err
    assert "Traceback" not in err
    assert snapshot(ws) == before
