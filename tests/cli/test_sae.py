"""`attnlab sae` (cli/sae.py): flags make SAESettings, the collection, evaluations and resamplings
are printed as lines (nothing but the result with --json), Ctrl-C is exit code 130. The lab itself
stands in (cli_helpers.spy_labs); the real runs: tests/labs/sae/."""

from __future__ import annotations

import json

import pytest

from cli_helpers import ANSWER_JSON, spy_labs
from train_helpers import cli_main, one_thread  # noqa: F401 (an autouse fixture)

from attnlab.cli.sae import KEYS
from attnlab.labs.sae.settings import SAESettings

EVENTS = [("collect", {"point": "blocks.0.ffwd.hidden", "tokens": 4096, "eval_tokens": 1024}),
          ("eval", {"step": 200, "l0": 12.34, "variance_explained": 0.8766, "dead": 3, "dense": 1}),
          ("resample", {"step": 200, "revived": 3}),
          ("step", {"step": 201, "loss": 0.5})]


def test_flags_make_the_settings_and_the_events_are_lines(monkeypatch, capsys):
    calls = spy_labs(monkeypatch, events=EVENTS)
    assert cli_main(["sae", "--run", "runs/r", "--expansion", "8", "--steps", "300", "--point", "blocks.1.out"]) == 0
    assert calls[0].lab == "sae"
    assert calls[0].settings == SAESettings(run="runs/r", expansion=8, steps=300, point="blocks.1.out")
    assert capsys.readouterr().out.splitlines() == [
        "collecting blocks.0.ffwd.hidden on 4096 training tokens and 1024 validation tokens",
        "step    200: L0 12.3, variance explained 0.877, dead 3, dense 1",
        "step    200: resampled 3 dead features",
        "the sae report", "its second line"]


def test_json_is_the_result_alone_and_its_keys_are_the_labs(monkeypatch, capsys):
    spy_labs(monkeypatch, events=EVENTS)
    assert cli_main(["sae", "--run", "runs/r", "--json"]) == 0
    assert capsys.readouterr().out == ANSWER_JSON
    from attnlab.labs.sae.lab import KEYS as LAB_KEYS  # --help names them without importing torch

    assert tuple(KEYS) == tuple(LAB_KEYS)


@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_an_interrupted_sae_is_exit_code_130(monkeypatch, capsys, json_flag):
    spy_labs(monkeypatch, interrupted=True)
    assert cli_main(["sae", "--run", "runs/r", *json_flag]) == 130
    out = capsys.readouterr().out
    assert (json.loads(out) if json_flag else out) == ({"answer": 42, "loss": None, "steps": [1, 2]} if json_flag
                                                       else "the sae report\nits second line\n")
