"""attnlab.labs.ladder.settings: where a ladder goes by default, and the settings' types."""

from pathlib import Path

import pytest

from attnlab.errors import UserError
from attnlab.labs.ladder.settings import LadderSettings


def test_the_folder_is_named_for_the_corpus_unless_given():
    assert LadderSettings().folder == Path("runs/ladder-shakespeare")
    assert LadderSettings(corpus="texts/hamlet.txt").folder == Path("runs/ladder-hamlet")  # a file: its stem
    assert LadderSettings(corpus="-").folder == Path("runs/ladder-stdin")
    assert LadderSettings(corpus="/").folder == Path("runs/ladder-corpus")  # no stem to name it by
    assert LadderSettings(corpus="texts/hamlet.txt", out_dir="mine").folder == Path("mine")


def test_a_setting_of_the_wrong_type_is_one_user_error():
    with pytest.raises(UserError, match="steps must be an integer"):
        LadderSettings(steps="10")
