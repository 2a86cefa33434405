"""What the web lab's tests share, made once per session: a runs/ folder with a tiny run and every
kind of folder the lab must not open, the lab serving it from a thread, and the run's model and
tokenizer loaded as the CLI loads them."""

from __future__ import annotations

from pathlib import Path

import pytest

from serve_helpers import Client, train_run

from attnlab.runs.checkpoint import load_model


@pytest.fixture(scope="session")
def runs(tmp_path_factory) -> Path:
    """runs/ with a tiny run "r" (2 layers, 2 heads), a symlink to it, a folder without the run
    marker, a hidden folder, and a symlink to a run outside runs/."""
    root = tmp_path_factory.mktemp("serve")
    runs = root / "runs"
    run = train_run(runs, "r", "--n-layers", "2", "--block-size", "64")
    outside = train_run(root / "elsewhere", "secret", "--max-iters", "2")
    (runs / "inside").symlink_to(run, target_is_directory=True)
    (runs / "escape").symlink_to(outside, target_is_directory=True)
    plain = runs / "plain"
    plain.mkdir()
    (plain / "config.json").write_text((run / "config.json").read_text())
    (runs / ".hidden").mkdir()
    (runs / "dangling").symlink_to(root / "nothing")
    return runs


@pytest.fixture(scope="session")
def lab(runs):
    from attnlab.serve.server import Background  # here: the test files skip when starlette is missing
    from attnlab.serve.store import ModelStore

    with Background(ModelStore(runs, minilm=False)) as server:
        yield Client(server.url)


@pytest.fixture(scope="session")
def model(runs):
    return load_model(runs / "r")[0]


@pytest.fixture(scope="session")
def tokenizer(runs):
    from attnlab.tokenizers import load_tokenizer

    return load_tokenizer(runs / "r" / "tokenizer")
