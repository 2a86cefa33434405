"""`attnlab superposition` (cli/superposition.py): --dimensionality's defaults, the old
--probability flag, a picture's format checked before the lab runs, --json, and Ctrl-C (exit code
130, no picture of half-trained weights). The lab itself stands in (cli_helpers.spy_labs); the
real runs: tests/labs/superposition/."""

from __future__ import annotations

import pytest

from cli_helpers import ANSWER_JSON, spy_labs
from train_helpers import cli_main, one_thread  # noqa: F401 (an autouse fixture)

from attnlab.cli.superposition import DIMENSIONALITY
from attnlab.labs.superposition.config import ToyConfig


def test_the_settings_from_flags_and_from_the_dimensionality_experiment(monkeypatch, capsys):
    calls = spy_labs(monkeypatch)
    assert cli_main(["superposition", "--probability", "0.5,0.1", "--dims", "3", "--json"]) == 0
    assert calls[-1].settings == ToyConfig(probabilities=(0.5, 0.1), dims=3)
    assert capsys.readouterr().out == ANSWER_JSON
    assert cli_main(["superposition", "--dimensionality", "--steps", "10", "--no-progress"]) == 0
    assert calls[-1].settings == ToyConfig(**{**DIMENSIONALITY, "steps": 10})  # a flag given wins
    assert calls[-1].settings.probabilities[:3] == (1.0, 0.7499, 0.5623) and len(DIMENSIONALITY["probabilities"]) == 17
    assert capsys.readouterr().out == "the superposition report\nits second line\n"


def test_a_picture_format_matplotlib_cannot_write_is_refused_before_the_lab(monkeypatch, capsys, tmp_path):
    calls = spy_labs(monkeypatch)
    assert cli_main(["superposition", "--png", str(tmp_path / "toy.txt")]) == 2
    assert "cannot save a figure as .txt" in capsys.readouterr().err and calls == []


@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_an_interrupted_sweep_writes_no_picture_and_is_exit_code_130(monkeypatch, capsys, tmp_path, json_flag):
    spy_labs(monkeypatch, interrupted=True)
    png = tmp_path / "toy.png"
    assert cli_main(["superposition", "--png", str(png), "--no-progress", *json_flag]) == 130
    out = capsys.readouterr().out
    assert out == (ANSWER_JSON if json_flag else f"the superposition report\nits second line\n{png} was not written\n")
    assert not png.exists()
