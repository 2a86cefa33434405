"""The tiny trained run that exact patching (test_patch.py) and attribution patching
(test_patch_gradient.py) are both checked on: trained once per session."""

import os
from pathlib import Path

import pytest
import torch

from train_helpers import TEXT, TINY, cli_main


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory) -> Path:
    """A tiny 2-layer run, trained once, and its export-hf folder beside it."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers is imported: never the network
    pytest.importorskip("transformers")
    folder = tmp_path_factory.mktemp("patch")
    (folder / "corpus.txt").write_text(TEXT, encoding="utf-8")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert cli_main(["train", "--corpus", str(folder / "corpus.txt"), "--out-dir", str(folder), "--name", "r",
                         *TINY, "--n-layers", "2"]) == 0
        assert cli_main(["export-hf", "--run", str(folder / "r"), "--out", str(folder / "hf")]) == 0
    finally:
        torch.set_num_threads(threads)
    return folder / "r"
