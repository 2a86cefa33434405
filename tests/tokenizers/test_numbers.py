"""attnlab.tokenizers.numbers: the grokking lab's tokens 0 .. p-1 and '=' (id p)."""

import pytest

from attnlab.tokenizers.char import META_FILE
from attnlab.tokenizers.numbers import NumberTokenizer


def test_each_number_is_its_own_id_and_equals_is_p():
    tok = NumberTokenizer(113)
    assert tok.vocab_size == 114
    assert tok.encode("0 57 112 =") == [0, 57, 112, 113]
    assert tok.encode("  4\n\t5  ") == [4, 5]  # any whitespace separates
    assert tok.decode([112, 0, 113]) == "112 0 ="
    assert tok.token_strings([3, 113]) == ["3", "="]
    for ids in ([0, 1, 113], list(range(114))):
        assert tok.encode(tok.decode(ids)) == ids


@pytest.mark.parametrize("text, words", [("3 113 =", "'113' at position 1 is not a number 0..112"),
                                         ("3+4 =", "'3+4' at position 0"), ("03 =", "'03' at position 0")])
def test_what_is_not_a_token_is_named_with_its_position(text, words):
    with pytest.raises(ValueError, match=words.replace("+", r"\+").replace(".", r"\.")):
        NumberTokenizer(113).encode(text)


def test_ids_outside_the_vocabulary_and_bad_p_are_refused():
    with pytest.raises(ValueError, match=r"token id 6 is outside the numbers vocabulary \(0\.\.5\)"):
        NumberTokenizer(5).decode([1, 6])
    with pytest.raises(ValueError, match="outside"):
        NumberTokenizer(5).decode([-1])
    for p in (1, True, 2.0, "7"):
        with pytest.raises(ValueError, match="needs p >= 2"):
            NumberTokenizer(p)


def test_save_writes_p_and_load_checks_it(tmp_path):
    NumberTokenizer(11).save(tmp_path)
    assert NumberTokenizer.load(tmp_path).p == 11
    (tmp_path / META_FILE).write_text('{"name": "numbers", "p": 1}')
    with pytest.raises(ValueError, match="has no valid 'p'"):
        NumberTokenizer.load(tmp_path)
