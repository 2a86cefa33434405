"""Session-wide test settings."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True, scope="session")
def private_cache_dir(tmp_path_factory):
    """Measured matmul peaks go to a temporary folder, never to the user's ~/.cache/attnlab
    (subprocesses and forked workers inherit the variable)."""
    previous = os.environ.get("ATTNLAB_CACHE_DIR")
    os.environ["ATTNLAB_CACHE_DIR"] = str(tmp_path_factory.mktemp("attnlab-cache"))
    yield
    if previous is None:
        del os.environ["ATTNLAB_CACHE_DIR"]
    else:
        os.environ["ATTNLAB_CACHE_DIR"] = previous
