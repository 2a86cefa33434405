"""`attnlab sae` and `attnlab features`: every bad input is one line and changes nothing.

Each case runs the command in a fresh copy of one workspace (two trained runs; the first holds an
SAE) and checks the promises of tests/cli/test_bad_inputs.py: a non-zero exit, one line
`attnlab: error: ...` naming the problem, no traceback, every file exactly as it was.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from train_helpers import TEXT, TINY, cli_main, copy_workspace, one_thread, refused_in_one_line, snapshot  # noqa: F401 (one_thread: autouse)

SAE = "sae-blocks.0.ffwd.hidden-x4"
SMALL = ["--tokens", "512", "--eval-tokens", "128", "--batch-size", "64", "--steps", "2", "--threads", "1"]


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    ws = tmp_path_factory.mktemp("sae-bad")
    (ws / "corpus.txt").write_text(TEXT, encoding="utf-8")
    cwd = os.getcwd()
    os.chdir(ws)
    try:
        for name, seed in (("r", "1"), ("r2", "2")):
            assert cli_main(["train", "--corpus", "corpus.txt", "--out-dir", "runs", "--name", name, *TINY,
                             "--seed", seed]) == 0
        assert cli_main(["sae", "--run", "runs/r", *SMALL, "--json"]) == 0
    finally:
        os.chdir(cwd)
    return ws


def copy_sae(to: str):
    def prepare(ws: Path) -> None:
        shutil.copytree(ws / "runs" / "r" / SAE, ws / to)
    return prepare


# (id, argv, what the error line must say, how to prepare the workspace)
CASES = [
    ("point-missing", ["sae", "--run", "runs/r", "--point", "blocks.7.ffwd.hidden", *SMALL], "no point", None),
    ("point-pattern", ["sae", "--run", "runs/r", "--point", "blocks.*.out", *SMALL], "not a pattern", None),
    ("point-not-a-vector", ["sae", "--run", "runs/r", "--point", "blocks.0.attn.weights", *SMALL],
     "not one vector per token", None),
    ("expansion-zero", ["sae", "--run", "runs/r", "--expansion", "0", *SMALL], "--expansion", None),
    ("expansion-negative", ["sae", "--run", "runs/r", "--expansion", "-2", *SMALL], "--expansion", None),
    ("too-few-tokens", ["sae", "--run", "runs/r", *SMALL, "--tokens", "10"], "too few tokens", None),
    ("l1-negative", ["sae", "--run", "runs/r", *SMALL, "--l1", "-1"], "--l1", None),
    ("lr-nan", ["sae", "--run", "runs/r", *SMALL, "--lr", "nan"], "--lr", None),
    ("steps-zero", ["sae", "--run", "runs/r", *SMALL, "--steps", "0"], "--steps", None),
    ("resume-and-overwrite", ["sae", "--run", "runs/r", *SMALL, "--resume", "--overwrite"], "exclude", None),
    ("sae-exists", ["sae", "--run", "runs/r", *SMALL], "already exists", None),
    ("resume-nothing", ["sae", "--run", "runs/r2", *SMALL, "--resume"], "holds no SAE", None),
    ("resume-other-settings", ["sae", "--run", "runs/r", *SMALL, "--resume", "--l1", "0.5"], "other settings", None),
    ("run-missing", ["sae", "--run", "runs/nope", *SMALL], "not found", None),
    ("sae-for-another-run", ["features", "--run", "runs/r2", "--tokens", "64"], "made for another model",
     copy_sae(f"runs/r2/{SAE}")),
    ("sae-for-another-run-resumed", ["sae", "--run", "runs/r2", *SMALL, "--resume"], "made for another model",
     copy_sae(f"runs/r2/{SAE}")),
    ("sae-for-another-point", ["sae", "--run", "runs/r", *SMALL, "--point", "blocks.0.out", "--expansion", "4",
                               "--resume"], "holds an SAE for blocks.0.ffwd.hidden",
     copy_sae("runs/r/sae-blocks.0.out-x4")),
    ("features-no-sae", ["features", "--run", "runs/r2", "--tokens", "64"], "holds no SAE", None),
    ("features-unknown-sae", ["features", "--run", "runs/r", "--sae", "sae-x", "--tokens", "64"], "no SAE named", None),
    ("features-unit-out-of-range", ["features", "--run", "runs/r", "--feature", "9999", "--tokens", "64"],
     "does not exist", None),
    ("features-text-unreadable", ["features", "--run", "runs/r", "--text", "😀", "--tokens", "64"], "", None),
    ("features-html-into-missing-folder", ["features", "--run", "runs/r", "--html", "nope/f.html"], "does not exist",
     None),
]


@pytest.fixture
def ws(template, tmp_path, monkeypatch) -> Path:
    return copy_workspace(template, tmp_path, monkeypatch)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_sae_input_is_one_line_and_changes_nothing(ws, capsys, case):
    _, argv, words, prepare = case
    if prepare is not None:
        prepare(ws)
    refused_in_one_line(argv, ws, capsys, words)


def test_a_full_disk_during_an_sae_save_is_one_line_and_changes_nothing(ws, capsys, monkeypatch):
    """The SAE's checkpoint goes through the same writer as a training run's: a disk that refuses
    optimizer.pt (torch.save raising ENOSPC, as a full disk does) is one line, and the run
    folder is as it was (the SAE's half-written folder is taken back); its manifest keeps the SAE
    folder's name, recorded before the folder was made, so that a later start may use it."""
    import errno

    import torch

    def enospc(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    before = snapshot(ws)
    monkeypatch.setattr(torch, "save", enospc)
    assert cli_main(["sae", "--run", "runs/r2", *SMALL]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("attnlab: error: could not write "), err
    assert "optimizer.pt: no space left on device" in lines[0] and "Traceback" not in err, err
    after = snapshot(ws)
    manifest = "runs/r2/.attnlab-files"
    assert {p: b for p, b in after.items() if p != manifest} == {p: b for p, b in before.items() if p != manifest}
    assert after[manifest] == before[manifest] + b'{"name": "sae-blocks.0.ffwd.hidden-x4"}\n'
