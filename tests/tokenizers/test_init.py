"""attnlab.tokenizers: the registry: a name builds its tokenizer, a saved folder loads as the
class that saved it, and a bad name or folder is refused."""

import pytest

from attnlab.tokenizers import BPETokenizer, CharTokenizer, build_tokenizer, load_tokenizer
from attnlab.tokenizers.numbers import NumberTokenizer


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


@pytest.mark.parametrize("tokenizer", [CharTokenizer.train("ab ba"), BPETokenizer.train("abba " * 20, 258),
                                       NumberTokenizer(7)], ids=["char", "bpe", "numbers"])
def test_a_saved_tokenizer_loads_as_its_own_class_with_the_same_ids(tmp_path, tokenizer):
    tokenizer.save(tmp_path)
    loaded = load_tokenizer(tmp_path)
    assert type(loaded) is type(tokenizer) and loaded.vocab_size == tokenizer.vocab_size
    text = "3 6 =" if tokenizer.name == "numbers" else "abab ba"
    assert loaded.encode(text) == tokenizer.encode(text)


def test_char_and_bpe_need_a_text():
    for name in ("char", "bpe"):
        with pytest.raises(ValueError, match=f"the {name} tokenizer .* a text: pass text="):
            build_tokenizer(name)
    assert build_tokenizer("char", text="abba").encode("bab") == [1, 0, 1]  # the module's example
