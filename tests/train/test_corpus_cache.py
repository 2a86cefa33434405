"""A built-in corpus is prepared once and then read from attnlab's cache folder; a damaged entry is rebuilt."""

from __future__ import annotations

import dataclasses

import pytest

from attnlab.train import data


@pytest.fixture
def counted(tmp_path, monkeypatch):
    """The shakespeare corpus's loader replaced by one that counts its calls, with a private cache."""
    monkeypatch.setenv("ATTNLAB_CACHE_DIR", str(tmp_path / "cache"))
    calls = []

    def load() -> str:
        calls.append(1)
        return "ROMEO:\nBut soft, what light — 빛 ✨\n"

    monkeypatch.setitem(data._BUILTINS, "shakespeare", dataclasses.replace(data._BUILTINS["shakespeare"], load=load))
    return calls


def test_prepared_once_then_read_from_the_cache(counted, tmp_path):
    first = data.load_corpus("shakespeare")
    assert data.load_corpus("shakespeare") == first == "ROMEO:\nBut soft, what light — 빛 ✨\n"
    assert len(counted) == 1
    (entry,) = (tmp_path / "cache" / "corpora").iterdir()
    assert entry.name.startswith("shakespeare-attnlab-")  # keyed by the version
    assert not [p for p in entry.parent.iterdir() if p.name.endswith(".tmp")]  # written atomically


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty", "header"])
def test_a_damaged_entry_is_rebuilt_never_trusted(counted, tmp_path, damage):
    text = data.load_corpus("shakespeare")
    (entry,) = (tmp_path / "cache" / "corpora").iterdir()
    raw = entry.read_bytes()
    broken = {"flip": raw[:-3] + bytes([raw[-3] ^ 1]) + raw[-2:], "truncate": raw[:-5], "empty": b"",
              "header": b"not a cache entry\n" + raw.split(b"\n", 1)[1]}[damage]
    entry.write_bytes(broken)
    assert data.load_corpus("shakespeare") == text  # not the damaged bytes
    assert len(counted) == 2 and entry.read_bytes() == raw  # prepared again, and the entry repaired


def test_an_unwritable_cache_still_gives_the_text(counted, tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("ATTNLAB_CACHE_DIR", str(blocker / "cache"))  # under a file: cannot be made
    assert data.load_corpus("shakespeare") == data.load_corpus("shakespeare")
    assert len(counted) == 2
