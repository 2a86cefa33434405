"""attnlab.labs.why.settings: one model, each token by what it reads or by position, never both."""

from __future__ import annotations

import pytest

from attnlab.errors import UserError
from attnlab.labs.shape import settings_from_dict
from attnlab.labs.why.settings import WhySettings


def test_a_token_by_word_or_by_position():
    s = WhySettings(run="r", text="ab", from_token="b", to_position=0)
    assert (s.from_token, s.to_position, s.vs_token, s.vs_position) == ("b", 0, None, None)
    assert WhySettings(model="minilm", text="ab", from_position=1, to_position=0).model == "minilm"


@pytest.mark.parametrize("values, code, words", [
    ({"run": None}, "no_model", "name one model: --run DIR or --model minilm"),
    ({"model": "minilm"}, "no_model", "name one model"),
    ({"run": None, "model": "bert"}, "bad_value", "--model must be one of minilm, got 'bert'"),
    ({"from_token": None}, "missing", "name the token that looks: --from TOKEN (or --from-position N)"),
    ({"to_position": None}, "missing", "name the token it may look at: --to TOKEN"),
    ({"from_position": 1}, "bad_value", "--from and --from-position both name the token that looks"),
    ({"vs_token": "a", "vs_position": 0}, "bad_value", "--vs and --vs-position both name a rival token"),
])
def test_each_refusal_names_the_flag(values, code, words):
    with pytest.raises(UserError) as refused:
        WhySettings(**{"run": "r", "text": "ab", "from_token": "b", "to_position": 0, **values})
    assert refused.value.code == code and words in str(refused.value)


def test_json_is_checked_as_the_flags_are():
    with pytest.raises(UserError) as refused:
        settings_from_dict(WhySettings, {"run": "r", "text": "ab", "from_position": "1", "to_position": 0})
    assert refused.value.code == "bad_type" and "from_position must be an integer or none" in str(refused.value)
