"""The one lab shape: settings from flags, TOML and JSON through one dataclass, the same checks in
each; every lab registered once, its web panel and its command built from it."""

from __future__ import annotations

import doctest
import json

import pytest

from train_helpers import one_thread  # noqa: F401 (an autouse fixture)

import attnlab.cli._lab
import attnlab.labs.shape
from attnlab.cli import main
from attnlab.errors import UserError
from attnlab.labs.shape import settings_from_dict
from attnlab.labs.superposition.config import LAB, ToyConfig

QUICK = ["--steps", "30", "--instances", "2", "--no-progress"]


@pytest.mark.parametrize("module", [attnlab.labs.shape, attnlab.cli._lab])
def test_the_worked_examples_in_the_docstrings(module):
    assert doctest.testmod(module).failed == 0


def test_json_settings_are_checked_as_the_flags_are():
    assert settings_from_dict(ToyConfig, {"probabilities": [1, 0.5], "dims": 3}) == ToyConfig(probabilities=(1, 0.5),
                                                                                             dims=3)
    for data, code, words in (({"dimz": 3}, "unknown_setting", r"unknown setting\(s\): dimz"),
                              ({"dims": "3"}, "bad_type", "dims must be an integer"),
                              ({"dims": True}, "bad_type", "dims must be an integer"),
                              ({"probabilities": [0.5, "often"]}, "bad_type", "a list of finite numbers"),
                              ({"probabilities": 0.5}, "bad_type", "a list of finite numbers"),
                              ({"lr": float("inf")}, "bad_type", "lr must be a finite number"),
                              ({"dims": 0}, "bad_input", "--dims")):  # the dataclass's own check, by its flag
        with pytest.raises(UserError, match=words) as caught:
            settings_from_dict(ToyConfig, data)
        assert caught.value.code == code


def test_toml_then_flags_build_the_settings(tmp_path, capsys):
    """--config FILE.toml holds settings by their field names; a flag given wins over the file."""
    toml = tmp_path / "toy.toml"
    toml.write_text('probabilities = [1.0, 0.1]\ndims = 3\nsteps = 10\n', encoding="utf-8")
    assert main(["superposition", "--config", str(toml), *QUICK, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["dims"], [p["probability"] for p in out["sweep"]]) == (3, [1.0, 0.1])
    assert out == LAB.run(ToyConfig(probabilities=(1.0, 0.1), dims=3, steps=30, instances=2)).to_json()
    toml.write_text('dimz = 3\n', encoding="utf-8")
    assert main(["superposition", "--config", str(toml), *QUICK]) == 2
    assert "unknown config key(s)" in capsys.readouterr().err
    toml.write_text('dims = "three"\n', encoding="utf-8")
    assert main(["superposition", "--config", str(toml), *QUICK]) == 2
    assert "dims must be an integer" in capsys.readouterr().err


def test_a_tuple_flag_takes_spaces_or_commas(capsys):
    assert main(["superposition", "--probability", "1,0.1", *QUICK, "--json"]) == 0
    commas = json.loads(capsys.readouterr().out)
    assert main(["superposition", "--probabilities", "1", "0.1", *QUICK, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == commas


def test_a_lab_runs_only_its_own_settings():
    with pytest.raises(TypeError, match="runs ToyConfig"):
        LAB.run(object())


def test_print_json_writes_strict_json(capsys):
    class Result:
        def to_json(self):
            return {"loss": float("nan"), "p": (0.5, float("inf"))}

    attnlab.cli._lab.print_json(Result())
    assert json.loads(capsys.readouterr().out) == {"loss": None, "p": [0.5, None]}
