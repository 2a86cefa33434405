"""`attnlab induction` (cli/induction.py): flags and --config make LabConfig, each model's start and
evaluations are printed as lines, --json prints the result alone. The lab itself stands in
(cli_helpers.spy_labs); the real runs: tests/labs/induction/."""

from __future__ import annotations

from cli_helpers import ANSWER_JSON, spy_labs
from train_helpers import cli_main, one_thread  # noqa: F401 (an autouse fixture)

from attnlab.labs.induction.config import LabConfig

EVENTS = [("start", {"layers": 2, "parameters": 12345, "max_iters": 500}),
          ("eval", {"step": 25, "loss_ratio": 0.8765, "induction": (1, 3, 0.714), "previous": (0, 2, 0.9)}),
          ("step", {"step": 26, "loss": 2.0})]  # a step is not printed


def test_flags_make_the_settings_and_the_events_are_lines(monkeypatch, capsys, tmp_path):
    calls = spy_labs(monkeypatch, events=EVENTS)
    assert cli_main(["induction", "--layers", "2", "--steps", "500", "--out-dir", str(tmp_path)]) == 0
    assert calls[0].lab == "induction"
    assert calls[0].settings == LabConfig(layers=(2,), steps=500, out_dir=str(tmp_path))
    assert capsys.readouterr().out.splitlines() == [
        "2-layer model: 12,345 parameters, 500 steps",
        "  step    25  loss ratio 0.88  best induction 1.3 0.71  best previous 0.2 0.90",
        "the induction report", "its second line"]


def test_json_is_the_result_alone_and_the_file_values_give_way_to_flags(monkeypatch, capsys, tmp_path):
    calls = spy_labs(monkeypatch, events=EVENTS)
    toml = tmp_path / "i.toml"
    toml.write_text("layers = [1]\nn_heads = 2\nseed = 3\n", encoding="utf-8")
    assert cli_main(["induction", "--config", str(toml), "--seed", "4", "--json"]) == 0
    assert capsys.readouterr().out == ANSWER_JSON
    assert calls[0].settings == LabConfig(layers=(1,), n_heads=2, seed=4)
