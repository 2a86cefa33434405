"""attnlab.tokenizers.char: one token per distinct character, sorted."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attnlab.tokenizers import CharTokenizer, build_tokenizer, load_tokenizer

from tokenizer_helpers import SAMPLES  # noqa: E402

CHAR_TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n대한민국 🙂\t"


@pytest.fixture(scope="module")
def char_tok():
    return build_tokenizer("char", text=CHAR_TEXT)


def test_char_vocab_is_sorted_distinct_characters(char_tok):
    assert char_tok.name == "char"
    assert char_tok.itos == sorted(set(CHAR_TEXT))
    assert char_tok.vocab_size == len(set(CHAR_TEXT))
    assert all(char_tok.stoi[c] == i for i, c in enumerate(char_tok.itos))
    assert char_tok.decode(char_tok.encode("대한")) == "대한"  # Hangul syllables are single tokens
    assert len(char_tok.encode("대한")) == 2


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_char_round_trip(char_tok, data):
    s = data.draw(st.text(st.sampled_from(char_tok.itos), max_size=80))
    assert char_tok.decode(char_tok.encode(s)) == s


def test_char_round_trip_samples():
    for s in SAMPLES[1:]:
        tok = build_tokenizer("char", text=s)
        assert tok.decode(tok.encode(s)) == s
    tok = build_tokenizer("char", text="ab")
    assert tok.encode("") == [] and tok.decode([]) == ""


def test_char_unknown_character_is_named_with_its_position(char_tok):
    with pytest.raises(ValueError, match=r"'Z' \(U\+005A\) at position 3"):
        char_tok.encode("FirZt")
    with pytest.raises(ValueError, match="outside the char vocabulary"):
        char_tok.decode([char_tok.vocab_size])


def test_char_rejects_empty_text():
    with pytest.raises(ValueError, match="empty"):
        build_tokenizer("char", text="")


def test_char_token_strings_are_visible(char_tok):
    assert char_tok.token_strings(char_tok.encode("e \n대")) == ["e", "␣", "\\n", "대"]


def test_char_save_load_round_trip(tmp_path, char_tok):
    char_tok.save(tmp_path / "tok")
    loaded = load_tokenizer(tmp_path / "tok")
    assert isinstance(loaded, CharTokenizer)
    assert loaded.itos == char_tok.itos and loaded.stoi == char_tok.stoi
    assert [p.name for p in (tmp_path / "tok").iterdir()] == ["attnlab_tokenizer.json"]  # no temp files
