"""attnlab.labs.patching.settings: the points made by default, and every refusal with its code."""

import pytest

from attnlab.errors import UserError
from attnlab.labs.patching.settings import PatchSettings


def test_the_default_points_leave_mlp_out_of_an_attention_only_model():
    s = PatchSettings(run="r")
    assert s.chosen_points(attention_only=False) == ["resid", "attn", "mlp", "heads"]
    assert s.chosen_points(attention_only=True) == ["resid", "attn", "heads"]
    given = PatchSettings(run="r", points=["heads-pos", "resid"])
    assert given.points == ("heads-pos", "resid") and given.chosen_points(True) == ["heads-pos", "resid"]
    with pytest.raises(UserError, match="the point mlp needs feed-forward layers"):
        PatchSettings(run="r", points=("mlp",)).chosen_points(attention_only=True)


@pytest.mark.parametrize("fields, words", [
    (dict(run=""), "name the run folder: --run DIR"),
    (dict(method="fast"), "--method must be one of exact, attribution, both, got 'fast'"),
    (dict(direction="up"), "--direction must be one of denoising, noising"),
    (dict(path="0.0->1.0.k", path_ablate="half"), "--path-ablate must be one of zero, mean, got 'half'"),
    (dict(path_ablate="zero"), "--path-ablate goes with --path"),
    (dict(points=("resid", "mlps")), "--points: unknown point 'mlps'"),
    (dict(points=("attn", "attn")), "--points names a point twice"),
])
def test_bad_settings_are_one_user_error(fields, words):
    with pytest.raises(UserError, match=words.replace("(", r"\(").replace(")", r"\)")) as caught:
        PatchSettings(**{"run": "r", **fields})
    assert caught.value.code == ("bad_input" if "run" in fields else "bad_value")
