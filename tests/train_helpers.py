"""Helpers shared by the training tests (imported, not a pytest conftest)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

import attnlab.cli

# A few paragraphs of text: enough characters for tiny models and every split.
TEXT = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\n"
        "All:\nSpeak, speak.\n\n"
        "First Citizen:\nYou are all resolved rather to die than to famish?\n\n") * 30

# A model and schedule small enough that a whole run takes about a second.
TINY = ["--n-layers", "1", "--n-heads", "2", "--d-model", "16", "--block-size", "16", "--batch-size", "4",
        "--max-iters", "6", "--eval-interval", "3", "--eval-iters", "2", "--warmup-iters", "2",
        "--sample-tokens", "8", "--no-progress"]


def cli_main(argv: list[str]) -> int:
    """`attnlab ARGV...` in this process."""
    return attnlab.cli.main(argv)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models on a shared 2-core machine run far faster on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def copy_workspace(template: Path, tmp_path: Path, monkeypatch) -> Path:
    """A fresh copy of a prepared workspace folder, made the current folder."""
    ws = tmp_path / "ws"
    shutil.copytree(template, ws, symlinks=True)
    monkeypatch.chdir(ws)
    return ws


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under root -> its bytes (None for a folder)."""
    return {str(p.relative_to(root)): (None if p.is_dir() else p.read_bytes()) for p in sorted(root.rglob("*"))}


def refused_in_one_line(argv: list[str], ws: Path, capsys, words: str) -> int:
    """Run `attnlab ARGV` in-process and check the bad-input promises: a non-zero exit, one line
    `attnlab: error: ...` holding `words`, no traceback, every file under `ws` as it was.
    Returns the exit code (argparse's own exit included)."""
    before = snapshot(ws)
    try:
        code = cli_main(list(argv))
    except SystemExit as exc:  # argparse's exit, after its one line
        code = exc.code
    err = capsys.readouterr().err
    assert code not in (0, None), err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("attnlab: error:"), err
    assert "Traceback" not in err and words in lines[0], err
    after = snapshot(ws)
    assert sorted(set(after) - set(before)) == [], "left behind"
    assert sorted(set(before) - set(after)) == [], "deleted"
    assert [p for p in before if before[p] != after[p]] == [], "changed"
    return code
