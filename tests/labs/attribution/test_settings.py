"""attnlab.labs.attribution.settings: the fields are the flags and the keys, a run is named."""

from __future__ import annotations

import pytest

from attnlab.errors import UserError
from attnlab.labs.attribution.settings import LAB, AttributeSettings
from attnlab.labs.shape import settings_from_dict


def test_a_run_is_named_and_json_is_checked_as_the_flags_are():
    with pytest.raises(UserError, match="--run DIR"):
        AttributeSettings(text="ab")
    settings = LAB.settings_from({"run": "r", "text": "ab", "answer": "a", "position": -1})
    assert (settings.answer, settings.wrong, settings.position) == ("a", None, -1)
    for data, code in (({"run": "r", "text": "ab", "position": "1"}, "bad_type"),
                       ({"run": "r", "text": 3}, "bad_type"), ({"run": "r", "txt": "ab"}, "unknown_setting")):
        with pytest.raises(UserError) as refused:
            settings_from_dict(AttributeSettings, data)
        assert refused.value.code == code
