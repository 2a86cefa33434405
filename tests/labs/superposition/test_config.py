"""attnlab.labs.superposition.config: the sweep's settings and every refusal in its own words."""

from __future__ import annotations

import pytest

from attnlab.errors import UserError
from attnlab.labs.superposition.config import ToyConfig


def test_the_defaults_are_five_features_in_two_dimensions_dense_to_sparse():
    cfg = ToyConfig()
    assert (cfg.features, cfg.dims, cfg.probabilities, cfg.importance) == (5, 2, (1.0, 0.3, 0.1, 0.05), 0.9)
    assert ToyConfig(probabilities=[0.5]).probabilities == (0.5,)  # a list becomes the tuple
    assert ToyConfig(features=100, importance=0.5).importance == 0.5  # 0.5 ** 99 ~ 1e-30: still a float32


@pytest.mark.parametrize("fields, words", [
    (dict(features=True), "--features must be a whole number >= 1, got True"),
    (dict(dims=1.5), "--dims must be a whole number >= 1"),
    (dict(batch_size=0), "--batch-size must be a whole number >= 1"),
    (dict(probabilities=()), "--probability needs at least one value"),
    (dict(probabilities=(0.5, 0.0)), r"--probability must be in \(0, 1\]"),
    (dict(importance=float("nan")), "--importance must be a finite number > 0"),
    (dict(features=100, importance=0.49), "--importance 0.49 gives feature 99 a weight of 1e-31: choose a value "
                                          "nearer 1"),
    (dict(features=11, importance=1e4), "gives feature 10 a weight of 1e40"),
    (dict(lr=float("inf")), "--lr must be a finite number > 0"),
    (dict(seed=-1), "--seed must be a whole number >= 0"),
])
def test_bad_settings_say_which_and_why(fields, words):
    with pytest.raises(UserError, match=words):
        ToyConfig(**fields)
