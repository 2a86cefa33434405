"""attnlab.labs.why.tokens: a token found as a person types it, the first of its kind, and an error
that lists the tokens there are."""

from __future__ import annotations

import doctest

import pytest

import attnlab.labs.why.tokens
from attnlab.errors import UserError
from attnlab.labs.why.tokens import find_token, norm_token


def test_the_worked_example():
    assert doctest.testmod(attnlab.labs.why.tokens).failed == 0


@pytest.mark.parametrize("token, typed", [("##ing", "ing"), ("Ġanimal", "animal"), ("▁It", "it"), ("␣It", "it"),
                                          (" The ", "the")])
def test_markers_spaces_and_case_are_read_away(token, typed):
    assert norm_token(token) == typed


def test_the_first_token_that_reads_the_word_and_the_refusals():
    assert find_token(["the", "␣cat", "␣The"], "THE", "--to") == 0
    with pytest.raises(UserError, match=r"--to 'dog' is not a token of the text; its tokens are: 'the' '␣cat'") as e:
        find_token(["the", "␣cat"], "dog", "--to")
    assert e.value.code == "bad_value"
    with pytest.raises(UserError):
        find_token(["", "a"], "", "--from")  # an empty word matches nothing, not an empty token
    with pytest.raises(UserError, match=r"'59' \.\.\.$"):
        find_token([str(i) for i in range(70)], "x", "--vs")  # the first 60 of them
