"""attnlab.labs.why.run on a tiny GPT: the answers are why()'s at the positions the settings name,
by word or by position, and the report reads every answer in a line."""

from __future__ import annotations

import pytest
import torch

from why_helpers import TOK, tiny_gpt

from attnlab.errors import UserError
from attnlab.labs.shape import quiet
from attnlab.labs.why.run import _against, _verdict, positions, report, run
from attnlab.labs.why.settings import WhySettings
from attnlab.sources import TextModel
from attnlab.why.answers import why

TEXT = "abcab hag"


@pytest.fixture
def opened() -> TextModel:
    return TextModel(tiny_gpt().eval(), TOK, "tiny", 16)


def settings(**values) -> WhySettings:
    return WhySettings(**{"run": "r", "text": TEXT, **values})


def test_the_answer_is_why_at_the_named_positions(opened):
    idx = torch.tensor([TOK.encode(TEXT)])
    tokens = TOK.token_strings(TOK.encode(TEXT))
    result = run(settings(from_token="h", to_token="c", vs_position=1), quiet, opened=opened)
    assert result.to_json() == why(opened.model, idx, 6, 2, 1, tokens=tokens)
    assert run(settings(from_position=6, to_position=2, vs_token="b"), quiet, opened=opened).to_json() == \
        result.to_json()


def test_positions_word_or_place():
    tokens = list("abcab")
    assert positions(settings(from_token="b", to_token="a"), tokens) == (1, 0, None)
    assert positions(settings(from_position=4, to_token="c", vs_position=3), tokens) == (4, 2, 3)
    with pytest.raises(UserError, match="--vs 'z' is not a token"):
        positions(settings(from_position=4, to_token="c", vs_token="z"), tokens)


@pytest.mark.parametrize("values, words", [({"from_position": 1, "to_position": 3}, r"'to' \(token 3\) comes after"),
                                           ({"from_position": 9, "to_position": 0}, "from position 9 out of range"),
                                           ({"from_token": "z", "to_position": 0}, "--from 'z' is not a token")])
def test_what_the_run_refuses(opened, values, words):
    with pytest.raises(UserError, match=words):
        run(settings(**values), quiet, opened=opened)


def test_the_report_has_a_row_and_a_reading_per_answer(opened):
    lines = report(run(settings(from_token="h", to_token="c", vs_token="a"), quiet, opened=opened))
    assert lines[0] == "tiny: how much does 'h' (token 6) take from 'c' (token 2), against 'a' (token 0)?"
    assert [line.split()[0] for line in lines[2::2]] == ["raw", "rollout", "flow", "norm", "ablation"]
    assert lines[3].strip().startswith("the strongest single head: 'h' gives")
    assert lines[-1].strip().startswith("zeroing the raw head changes the loss of the guess after 'h'")
    last = report(run(settings(from_position=8, to_position=0), quiet, opened=opened))
    assert last[0].endswith("(token 0)?") and last[-1].strip() == "the last token predicts nothing: no loss to change"


def test_the_readings_in_words():
    assert _against(0.5, None, "'b'") == ""
    assert _against(0.5, 0.0, "'b'") == "; 'b': nothing"
    assert _against(0.5, 0.5, "'b'") == "; about the same for 'b' (1.00x)"
    assert _against(0.9, 0.3, "'b'") == "; 3.0x 'b'"
    assert _against(0.1, 0.4, "'b'") == "; less than 'b' (0.25x)"
    assert [_verdict(d) for d in (0.2, -0.2, 0.01)] == ["the prediction needed that head",
                                                        "the guess got better without it", "it hardly mattered"]


def test_run_needs_an_opened_model():
    with pytest.raises(TypeError, match="opened model"):
        run(settings(from_position=1, to_position=0), quiet)
