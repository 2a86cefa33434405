"""`attnlab grokking` (cli/grokking.py): the preset, then --config, then the flags make the lab's
settings; its events are printed as lines, --json prints the result alone, Ctrl-C is exit code 130.
The lab itself stands in (cli_helpers.spy_labs); the real runs: tests/labs/grokking/."""

from __future__ import annotations

import pytest

from cli_helpers import ANSWER_JSON, spy_labs
from train_helpers import cli_main, one_thread  # noqa: F401 (an autouse fixture)

from attnlab.cli.grokking import PRESETS
from attnlab.labs.grokking.config import GrokSettings

EVAL = {"step": 200, "train_loss": 0.01234, "train_acc": 1.0, "test_loss": 4.5, "test_acc": 0.0123,
        "key_frequencies": [14, 35, 41, 42, 52, 1, 2, 3, 4, 5], "restricted_loss": 0.000123}


def test_the_paper_setting_is_the_default_and_flags_win_over_the_fast_preset(monkeypatch, capsys, tmp_path):
    calls = spy_labs(monkeypatch)
    assert cli_main(["grokking", "--out-dir", str(tmp_path), "--no-progress"]) == 0
    assert calls[-1].lab == "grokking" and calls[-1].settings == GrokSettings(out_dir=str(tmp_path))
    assert cli_main(["grokking", "--preset", "fast", "--steps", "7", "--out-dir", str(tmp_path), "--no-progress"]) == 0
    assert calls[-1].settings == GrokSettings(**{**PRESETS["fast"], "steps": 7, "out_dir": str(tmp_path)})
    toml = tmp_path / "g.toml"
    toml.write_text("p = 31\nsteps = 9\n", encoding="utf-8")
    assert cli_main(["grokking", "--preset", "fast", "--config", str(toml), "--steps", "8", "--no-progress"]) == 0
    assert (calls[-1].settings.p, calls[-1].settings.steps, calls[-1].settings.weight_decay) == (31, 8, 2.0)
    capsys.readouterr()


def test_an_evaluation_is_a_line_and_the_report_follows(monkeypatch, capsys):
    spy_labs(monkeypatch, events=[("eval", EVAL)])
    assert cli_main(["grokking", "--no-progress"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "step    200: train loss 0.0123 acc 100.0%, test loss 4.5000 acc   1.2%, key frequencies "
        "[14, 35, 41, 42, 52, 1, 2, 3], restricted loss 0.000123",
        "the grokking report", "its second line"]


def test_json_is_the_result_alone(monkeypatch, capsys):
    spy_labs(monkeypatch, events=[("eval", EVAL), ("start", {})])
    assert cli_main(["grokking", "--json"]) == 0
    assert capsys.readouterr().out == ANSWER_JSON


@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_an_interrupted_run_is_exit_code_130(monkeypatch, capsys, json_flag):
    spy_labs(monkeypatch, interrupted=True)
    assert cli_main(["grokking", "--no-progress", *json_flag]) == 130
    assert capsys.readouterr().out == (ANSWER_JSON if json_flag else "the grokking report\nits second line\n")
