"""attnlab.labs.ablation.settings: the --heads text read into pairs, and every refusal of a setting
in one line, the same from a flag, a TOML key or the web lab's JSON."""

from __future__ import annotations

import doctest

import pytest

import attnlab.labs.ablation.settings
from attnlab.errors import UserError
from attnlab.labs.ablation.settings import AblateSettings, parse_heads
from attnlab.labs.shape import settings_from_dict


def test_the_worked_examples_in_the_docstrings():
    assert doctest.testmod(attnlab.labs.ablation.settings).failed == 0


def test_heads_text_becomes_pairs():
    assert parse_heads("0.1,2.3") == [(0, 1), (2, 3)]
    assert parse_heads(" 0.1 , 1.0 ") == [(0, 1), (1, 0)]
    assert parse_heads("") == []  # the set of none: the baseline
    assert AblateSettings(run="r", text="ab").head_pairs() is None  # no set asked for
    assert AblateSettings(run="r", text="ab", heads="1.1").head_pairs() == [(1, 1)]


@pytest.mark.parametrize("values, words", [
    ({"text": None}, "give one of --text TEXT or --split"),
    ({"split": "val"}, "give one of --text TEXT or --split"),
    ({"text": None, "split": "test"}, "--split: invalid choice 'test'"),
    ({"corpus": "c.txt"}, "--corpus goes with --split"),
    ({"text": None, "split": "val", "batches": 0}, "--batches must be at least 1, got 0"),
    ({"top": -1}, "--top is -1"),
    ({"top": 101}, "--top is 101"),
    ({"text": None, "split": "val", "top": 3}, "--top goes with --text"),
    ({"position": 2}, "--position goes with --top"),
    ({"heads": "x"}, "--heads: cannot read 'x'; write LAYER.HEAD pairs"),
    ({"heads": "0.1,0.1"}, "--heads names a head twice"),
    ({"run": ""}, "name the run folder: --run DIR"),
])
def test_each_refusal_is_one_line_naming_the_flag(values, words):
    with pytest.raises(UserError) as refused:
        AblateSettings(**{"run": "r", "text": "ab", **values})
    assert words in str(refused.value) and "\n" not in str(refused.value)


def test_json_is_checked_as_the_flags_are():
    assert settings_from_dict(AblateSettings, {"run": "r", "text": "ab", "top": 10, "position": 1}).top == 10
    for data, code in (({"run": "r", "text": "ab", "top": "10"}, "bad_type"),
                       ({"run": "r", "text": "ab", "each": 1}, "bad_type"),
                       ({"run": "r", "text": "ab", "head": "0.1"}, "unknown_setting")):
        with pytest.raises(UserError) as refused:
            settings_from_dict(AblateSettings, data)
        assert refused.value.code == code
