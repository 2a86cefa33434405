"""attnlab.labs.sampling.settings: the one check of temperature, top-k and top-p that `attnlab
generate`, `attnlab next` and the web lab share, and each command's own refusals."""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest

import attnlab.labs.sampling.settings
from attnlab.errors import UserError
from attnlab.labs.sampling.settings import GenerateSettings, NextSettings, check_sampling, kept_by
from attnlab.labs.shape import settings_from_dict


def test_the_worked_examples_in_the_docstrings():
    assert doctest.testmod(attnlab.labs.sampling.settings).failed == 0


@pytest.mark.parametrize("temperature, top_k, top_p, words", [
    (-0.5, None, None, "--temperature must be a finite number >= 0 (0 is greedy), got -0.5"),
    (float("nan"), None, None, "--temperature must be a finite number"),
    (float("inf"), None, None, "--temperature must be a finite number"),
    (1.0, -1, None, "--top-k must be >= 0, got -1"),
    (1.0, None, 0.0, "--top-p must be in (0, 1], got 0.0"),
    (1.0, None, 1.01, "--top-p must be in (0, 1], got 1.01"),
])
def test_sampling_refusals_name_the_flag(temperature, top_k, top_p, words):
    with pytest.raises(UserError) as refused:
        check_sampling(temperature, top_k, top_p)
    assert words in str(refused.value) and refused.value.code == "out_of_range"


def test_every_token_kept_is_none_for_the_sampler():
    assert kept_by(0, 1.0) == (None, None) and kept_by(None, None) == (None, None)
    assert kept_by(5, 0.9) == (5, 0.9)


@pytest.mark.parametrize("values, words", [
    ({"run": None}, "name the model: --run DIR or --checkpoint FILE"),
    ({"checkpoint": "c"}, "name the model"),
    ({"max_new_tokens": -1}, "--max-new-tokens must be >= 0 and --num-samples >= 1"),
    ({"num_samples": 0}, "--num-samples >= 1"),
    ({"seed": -1}, "--seed must be in [0, 2**63)"),
    ({"seed": 2 ** 63}, "--seed must be in [0, 2**63)"),
    ({"top_p": 2.0}, "--top-p must be in (0, 1]"),
])
def test_generate_refusals(values, words):
    with pytest.raises(UserError, match=words.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")
                       .replace("*", r"\*")):
        GenerateSettings(**{"run": "r", **values})


def test_the_folder_of_a_run_or_a_checkpoint():
    assert GenerateSettings(run="runs/a").folder() == Path("runs/a")
    assert GenerateSettings(checkpoint="runs/a/model.safetensors").folder() == Path("runs/a")
    assert GenerateSettings(checkpoint="runs/a/checkpoint-000250/model.safetensors").folder() == Path("runs/a")
    assert GenerateSettings(checkpoint="runs/a/checkpoint-000250").folder() == Path("runs/a")


def test_next_has_generates_defaults_and_its_own_refusals():
    next_, generate = NextSettings(run="r"), GenerateSettings(run="r")
    assert (next_.temperature, next_.top_k, next_.top_p) == (generate.temperature, generate.top_k, generate.top_p)
    for values, words in (({"n": 0}, "--n is 0"), ({"n": 101}, "--n is 101"), ({"run": ""}, "--run DIR"),
                          ({"temperature": -1.0}, "--temperature")):
        with pytest.raises(UserError, match=words):
            NextSettings(**{"run": "r", **values})
    with pytest.raises(UserError) as refused:
        settings_from_dict(NextSettings, {"run": "r", "top_k": 2.5})
    assert refused.value.code == "bad_type"
