"""`attnlab ladder` (cli/ladder.py): the flags make LadderSettings, the lab gets the command's
runtime and --device, each finished rung is a line with its change in loss, and with --json every
line goes to stderr. The lab itself stands in (cli_helpers.spy_labs); the real runs:
tests/labs/ladder/."""

from __future__ import annotations

from cli_helpers import ANSWER_JSON, spy_labs
from train_helpers import cli_main, one_thread  # noqa: F401 (an autouse fixture)

from attnlab.labs.ladder.settings import LadderSettings
from attnlab.runtime.decision import Runtime


def rung_done(index: int, name: str, val_loss, seconds: float, reused: bool = False) -> tuple[str, dict]:
    return ("rung_done", {"index": index, "of": 3, "max_iters": 10, "reused": reused,
                          "record": {"name": name, "val_loss": val_loss, "seconds": seconds}})


EVENTS = [("ladder", {"total_steps": 30}), ("rung", {"index": 1, "of": 3, "name": "bigram"}),
          ("step", {"step": 4, "loss": 3.0}), rung_done(1, "bigram", 2.5, 12.4, reused=True),
          rung_done(2, "one head", None, 3.0),  # no validation loss: no line
          rung_done(3, "multi-head", 2.125, 40.6)]
LINES = ["rung 1/3 bigram: val loss 2.500, 12 s (reused)", "rung 3/3 multi-head: val loss 2.125 (-0.375), 41 s"]


def test_the_settings_the_runtime_and_a_line_per_rung(monkeypatch, capsys, tmp_path):
    calls = spy_labs(monkeypatch, events=EVENTS)
    assert cli_main(["ladder", "--steps", "10", "--corpus", "korean-law", "--out-dir", str(tmp_path), "--device",
                     "cpu", "--no-progress"]) == 0
    assert calls[0].lab == "ladder"
    assert calls[0].settings == LadderSettings(steps=10, corpus="korean-law", out_dir=str(tmp_path))
    assert isinstance(calls[0].context["runtime"], Runtime) and calls[0].context["device"] == "cpu"
    assert capsys.readouterr().out.splitlines() == [*LINES, "the ladder report", "its second line"]


def test_json_keeps_stdout_for_the_result_and_the_bar_goes_to_stderr(monkeypatch, capsys):
    spy_labs(monkeypatch, events=EVENTS)
    assert cli_main(["ladder", "--steps", "10", "--json"]) == 0  # the bar drawn too
    out, err = capsys.readouterr()
    assert out == ANSWER_JSON
    assert all(line in err for line in LINES) and "rung 3/3 multi-head" in err


def test_an_interrupted_ladder_says_how_to_continue_and_is_exit_code_130(monkeypatch, capsys):
    spy_labs(monkeypatch, interrupted=True, rungs=[{"name": "bigram"}, {"name": "one head"}])
    assert cli_main(["ladder", "--json", "--no-progress"]) == 130
    out, err = capsys.readouterr()
    assert out == ANSWER_JSON
    assert err == "interrupted in rung 2 (one head): run the same command again to continue\n"
