"""attnlab.tokenizers.bpe: byte-level BPE trained on a text, up to a vocabulary size."""

import pytest
from hypothesis import given, settings

from attnlab.tokenizers import BPETokenizer, build_tokenizer, load_tokenizer

from tokenizer_helpers import SAMPLES, TEXT  # noqa: E402

BPE_TEXT = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n"
            "First Citizen:\nYou are all resolved rather to die than to famish?\n") * 30


@pytest.fixture(scope="module")
def bpe_tok():
    return build_tokenizer("bpe", text=BPE_TEXT, vocab_size=300)


def test_bpe_learns_merges_up_to_vocab_size(bpe_tok):
    assert bpe_tok.name == "bpe" and bpe_tok.vocab_size == 300
    ids = bpe_tok.encode("First Citizen:")
    assert len(ids) < len("First Citizen:")  # frequent words were merged
    assert "".join(bpe_tok.token_strings(ids)) == "First␣Citizen:"


@settings(max_examples=150, deadline=None)
@given(TEXT)
def test_bpe_round_trip(bpe_tok, s):
    assert bpe_tok.decode(bpe_tok.encode(s)) == s


@pytest.mark.parametrize("s", SAMPLES)
def test_bpe_round_trip_samples(bpe_tok, s):
    assert bpe_tok.decode(bpe_tok.encode(s)) == s


def test_bpe_rejects_bad_settings():
    with pytest.raises(ValueError, match="at least 256"):
        build_tokenizer("bpe", text="abc", vocab_size=100)
    with pytest.raises(ValueError, match="empty"):
        build_tokenizer("bpe", text="")
    with pytest.raises(ValueError, match="only applies to the bpe"):
        build_tokenizer("char", text="abc", vocab_size=300)


def test_bpe_refuses_a_vocabulary_the_text_cannot_give():
    text = "ab ab ab ab"  # words 'ab' and ' ab': at most 256 + 1 + 2 tokens
    with pytest.raises(ValueError, match="more than this text can give: at most 259 tokens"):
        build_tokenizer("bpe", text=text, vocab_size=1_000_000_000)
    with pytest.raises(ValueError, match="gives only 258 BPE tokens"):  # ' ab' merges in one step once 'ab' is
        build_tokenizer("bpe", text=text, vocab_size=259)
    assert build_tokenizer("bpe", text=text, vocab_size=258).vocab_size == 258
    with pytest.raises(ValueError, match="must be an integer"):
        build_tokenizer("bpe", text=text, vocab_size=True)


def test_bpe_words_without_spaces_are_cut_at_64_bytes():
    """A text with no space is not one huge word: training sees 64-byte pieces, and encoding
    splits the same way, so no token is longer and decode(encode(s)) == s."""
    from attnlab.tokenizers.bpe import MAX_WORD_BYTES

    text = ("abcdefghij" * 30 + "가나다라마바사아자차" * 10) * 3
    tok = build_tokenizer("bpe", text=text, vocab_size=340)
    words = tok.tokenizer.pre_tokenizer.pre_tokenize_str(text)
    assert max(len(word) for word, _ in words) == MAX_WORD_BYTES and len(words) > len(text.encode()) // 64
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    assert max(len(tok.token_bytes(i)) for i in ids) <= MAX_WORD_BYTES
    assert len(ids) < len(text) // 4  # the repeats were still learned


def test_bpe_save_load_round_trip(tmp_path, bpe_tok):
    bpe_tok.save(tmp_path)
    loaded = load_tokenizer(tmp_path)
    assert isinstance(loaded, BPETokenizer) and loaded.vocab_size == bpe_tok.vocab_size
    assert loaded.encode(BPE_TEXT) == bpe_tok.encode(BPE_TEXT)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["attnlab_tokenizer.json", "tokenizer.json"]
    (tmp_path / "tokenizer.json").write_text('{"truncated": ')
    with pytest.raises(ValueError, match="not a valid tokenizers file"):
        load_tokenizer(tmp_path)
