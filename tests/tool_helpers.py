"""What the why tools' command tests share (tests/cli/test_ablate.py, test_attribute.py, test_why.py,
test_next.py): a tiny run trained once per module, alone in its folder so that the web lab can serve
that folder, the command's one line of JSON, a one-line error, and the web lab on a folder."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
import torch

from train_helpers import TEXT, TINY, cli_main

PROMPT = "First Citizen: h"  # 16 characters: the tiny run's block size


def tiny_run(folder: Path, *extra: str) -> Path:
    """A run "r" of TINY's schedule on TEXT in `folder` (`extra` flags override: --n-layers 2)."""
    corpus = folder / "corpus.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert cli_main(["train", "--corpus", str(corpus), "--out-dir", str(folder), "--name", "r", *TINY,
                         *extra]) == 0
    finally:
        torch.set_num_threads(threads)
    return folder / "r"


def json_out(capsys, *argv) -> dict:
    assert cli_main([str(a) for a in argv]) == 0
    out = capsys.readouterr().out
    assert len(out.strip().splitlines()) == 1, out  # one JSON object, nothing else
    return json.loads(out)


def one_line_error(capsys, *argv, match: str) -> None:
    assert cli_main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("attnlab: error:") and "\n" not in err and match in err, err


@contextlib.contextmanager
def web_lab(runs: Path, minilm: bool = False):
    """The web lab serving `runs` (and MiniLM when asked) in a thread: a Client to it."""
    pytest.importorskip("starlette")
    from serve_helpers import Client

    from attnlab.serve.server import Background
    from attnlab.serve.store import ModelStore

    with Background(ModelStore(runs, minilm=minilm)) as server:
        yield Client(server.url)
