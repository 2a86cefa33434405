"""serve/limits.py: each panel's token cap is the largest length whose cost stays within its
budget (checked against a search of every length), and a text over it is a 413 naming the cap
(the caps of real models over HTTP: test_serve_limits.py)."""

from __future__ import annotations

import doctest

import pytest

import attnlab.serve.limits
from attnlab.errors import UserError
from attnlab.serve.limits import COSTS, Size, caps, check_tokens, token_cap

SIZES = [Size(layers=6, heads=12, width=384, vocab=30522, max_tokens=512),  # MiniLM
         Size(layers=4, heads=4, width=128, vocab=65, max_tokens=64),  # the cpu preset on characters
         Size(layers=12, heads=12, width=768, vocab=50257, max_tokens=1024),  # GPT-2
         Size(layers=1, heads=1, width=8, vocab=5, max_tokens=3)]


def test_the_worked_example_in_the_docstring():
    assert doctest.testmod(attnlab.serve.limits).failed == 0


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"L{s.layers}-T{s.max_tokens}")
def test_each_cap_is_the_longest_text_within_the_budget(size):
    assert set(caps(size)) == set(COSTS)
    for endpoint, (_, budget, cost) in COSTS.items():
        longest = max((T for T in range(size.max_tokens + 1) if cost(size, T) <= budget), default=0)
        assert token_cap(endpoint, size) == longest, endpoint


def test_a_costlier_panel_takes_fewer_tokens():
    gpt2 = SIZES[2]
    assert token_cap("ablate", gpt2) < token_cap("ablate_set", gpt2) <= token_cap("next", gpt2)
    assert token_cap("why", gpt2) < token_cap("attention", gpt2)


def test_a_text_over_the_cap_is_a_413_that_names_it():
    minilm = SIZES[0]
    check_tokens("why", minilm, "minilm", 64)  # at the cap: nothing raised
    with pytest.raises(UserError) as caught:
        check_tokens("why", minilm, "minilm", 65)
    assert (caught.value.status, caught.value.code) == (413, "over_token_cap")
    assert str(caught.value).startswith("the text is 65 tokens long; why takes at most 64 on minilm (a cap on its "
                                        "edges of the attention-flow graph")
    cap = token_cap("ablate", SIZES[2])
    with pytest.raises(UserError, match=f"ablate with every head's row takes at most {cap} on gpt2"):
        check_tokens("ablate", SIZES[2], "gpt2", cap + 1)
    with pytest.raises(UserError, match="; ablate takes at most"):
        check_tokens("ablate_set", SIZES[2], "gpt2", token_cap("ablate_set", SIZES[2]) + 1)
