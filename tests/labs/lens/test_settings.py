"""attnlab.labs.lens.settings: a run must be named and k stays in 1..20."""

import pytest

from attnlab.errors import UserError
from attnlab.labs.lens.settings import MAX_K, LensSettings


def test_a_run_is_needed_and_k_is_bounded():
    assert LensSettings(run="r", k=MAX_K).k == 20
    with pytest.raises(UserError, match="--run DIR"):
        LensSettings(text="abc")
    for k in (0, 21):
        with pytest.raises(UserError, match=f"--k is {k}; it must be in 1..20") as caught:
            LensSettings(run="r", k=k)
        assert caught.value.code == "out_of_range"
