"""attnlab.labs.patching.tokens: one answer token or a UserError that says why, and the terminal table."""

import pytest

from attnlab.errors import UserError
from attnlab.labs.patching.tokens import format_table, one_token
from attnlab.tokenizers.char import CharTokenizer


class Source:
    tokenizer = CharTokenizer.train("abc ")


def test_one_token_or_a_reason():
    assert one_token(Source, None, "--answer") is None
    assert one_token(Source, "b", "--answer") == Source.tokenizer.encode("b")[0]
    for text, words in (("", "--answer is empty"), ("ab", "'ab' is 2 tokens for this tokenizer, not one"),
                        ("z", "the tokenizer cannot make it")):
        with pytest.raises(UserError, match=words) as caught:
            one_token(Source, text, "--answer")
        assert caught.value.code == "bad_value"


def test_the_table_right_aligns_two_decimals_and_cuts_long_column_heads():
    text = format_table("resid", ["embed", "out 0"], ["a", "longword"], [[0.5, None], [1.0, -0.125]])
    assert text.splitlines() == ["resid",
                                 "      a     long… ",  # heads cut to 5 cells, left in their column
                                 "embed  0.50     - ",
                                 "out 0  1.00 -0.12 "]
