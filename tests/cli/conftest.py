"""Fixtures the command-line tests share, each made once per session: a tiny run trained by
`attnlab train` (copied for each test that may change it), a stand-in run folder whose loading
is a tiny GPT, and MiniLM's weights."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from attnlab.config import GPTConfig
from attnlab.model.gpt import GPT
from cli_helpers import train_args
from train_helpers import TEXT, cli_main


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def trained(tmp_path_factory, corpus) -> Path:
    """One tiny run, trained once; each test gets its own copy."""
    folder = tmp_path_factory.mktemp("trained")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert cli_main(train_args(folder, corpus)) == 0
    finally:
        torch.set_num_threads(threads)
    return folder / "runs" / "r"


@pytest.fixture
def run_dir(trained, tmp_path) -> Path:
    shutil.copytree(trained, tmp_path / "runs" / "r")
    return tmp_path / "runs" / "r"


class CharTokenizer:
    name = "char"

    def __init__(self, alphabet: str):
        self.itos = list(alphabet)
        self.stoi = {c: i for i, c in enumerate(alphabet)}
        self.vocab_size = len(alphabet)

    def encode(self, text):
        return [self.stoi[c] for c in text]

    def token_strings(self, ids):
        return [self.itos[i] for i in ids]


@pytest.fixture
def fake_run(monkeypatch, tmp_path):
    """A run folder whose loading is replaced by a tiny GPT (the real loader is tested below)."""
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=8, max_seq_len=12, d_model=16, n_heads=2, n_layers=2)).eval()
    tokenizer = CharTokenizer("abcdefg ")
    monkeypatch.setattr("attnlab.sources.load_run", lambda run_dir: (model, tokenizer))
    (tmp_path / "run").mkdir()
    return tmp_path / "run", model, tokenizer


@pytest.fixture(scope="session")
def minilm_once():
    from attnlab.interop.minilm import load_minilm

    return load_minilm()


@pytest.fixture
def minilm(minilm_once, monkeypatch):
    monkeypatch.setattr("attnlab.interop.minilm.load_minilm", lambda: minilm_once)  # load the weights once
    return minilm_once
