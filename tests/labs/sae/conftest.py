"""The trained tiny runs the SAE lab's slow tests share (test_lab.py, test_features.py): trained
once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sae_helpers import KOREAN, SAE_FLAGS
from serve_helpers import train_run
from train_helpers import TEXT, TINY, cli_main


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    ws = tmp_path_factory.mktemp("sae")
    (ws / "corpus.txt").write_text(TEXT + KOREAN, encoding="utf-8")
    cwd = os.getcwd()
    os.chdir(ws)
    try:
        assert cli_main(["train", "--corpus", "corpus.txt", "--out-dir", "runs", "--name", "r", *TINY]) == 0
        assert cli_main(["sae", "--run", "runs/r", *SAE_FLAGS, "--steps", "8", "--json"]) == 0
    finally:
        os.chdir(cwd)
    return ws / "runs" / "r"


@pytest.fixture(scope="session")
def runs(tmp_path_factory):
    runs = tmp_path_factory.mktemp("features") / "runs"
    train_run(runs, "r")
    train_run(runs, "bare")
    assert cli_main(["sae", "--run", str(runs / "r"), "--tokens", "512", "--eval-tokens", "128", "--batch-size", "64",
                     "--steps", "2", "--threads", "1", "--json"]) == 0
    return runs
