"""attnlab.labs.sae.settings: the training settings' and the request's checks, the flags' settings
turned into a request, the features browser's settings."""

from __future__ import annotations

import pytest

from attnlab.errors import UserError
from attnlab.labs.sae.settings import FeaturesSettings, SAERequest, SAESettings, TrainSettings, folder_name


@pytest.mark.parametrize("fields, words", [(dict(steps=0), "--steps must be at least 1, got 0"),
                                           (dict(batch_size=0), "--batch-size must be at least 1"),
                                           (dict(warmup=-1), "--warmup must be 0 or more"),
                                           (dict(resample_every=-5), "--resample-every must be 0 or more"),
                                           (dict(l1=float("inf")), "--l1 must be a finite number ≥ 0"),
                                           (dict(l1=float("nan")), "--l1 must be a finite number ≥ 0"),
                                           (dict(lr=0.0), "--lr must be a finite number > 0")])
def test_bad_training_settings(fields, words):
    with pytest.raises(UserError, match=words):
        TrainSettings(**fields)


def test_the_request_needs_a_whole_expansion_and_a_batch_of_tokens():
    assert SAERequest(tokens=256).tokens == 256  # exactly one batch of the default 256
    with pytest.raises(UserError, match="too few tokens: --tokens 255 is fewer than one batch .--batch-size 256."):
        SAERequest(tokens=255)
    for expansion in (0, True, 1.5):
        with pytest.raises(UserError, match="--expansion must be a whole number"):
            SAERequest(expansion=expansion)
    with pytest.raises(UserError, match="--eval-tokens must be at least 1"):
        SAERequest(eval_tokens=0)
    assert folder_name("blocks.1.out", 8) == "sae-blocks.1.out-x8"


def test_the_flags_make_the_request_sae_json_keeps():
    s = SAESettings(run="runs/r", point="blocks.0.out", expansion=2, l1=0.5, tokens=1024, eval_tokens=64, steps=30,
                    batch_size=32, lr=1e-3, resample_every=10, seed=4)
    assert s.request() == SAERequest(point="blocks.0.out", expansion=2, tokens=1024, eval_tokens=64,
                                     train=TrainSettings(l1=0.5, lr=1e-3, steps=30, batch_size=32, resample_every=10,
                                                         seed=4, eval_interval=30))  # never past the last step
    assert SAESettings(run="r").request().train.eval_interval == 100
    assert (SAESettings(run="r").mode, SAESettings(run="r", resume=True).mode,
            SAESettings(run="r", overwrite=True).mode) == ("new", "resume", "overwrite")
    with pytest.raises(UserError, match="exclude each other"):
        SAESettings(run="r", resume=True, overwrite=True)
    with pytest.raises(UserError, match="--run RUN"):
        SAESettings()
    with pytest.raises(UserError, match="--expansion"):
        SAESettings(run="r", expansion=0)  # checked where the request checks it


def test_the_browsers_settings():
    assert FeaturesSettings(run="r").kind == "feature"
    with pytest.raises(UserError, match="--kind must be one of feature, neuron, got 'neurons'"):
        FeaturesSettings(run="r", kind="neurons")
    with pytest.raises(UserError, match="--top and --tokens must be at least 1"):
        FeaturesSettings(run="r", top=0)
    with pytest.raises(UserError, match="the run folder that holds the SAE"):
        FeaturesSettings()
