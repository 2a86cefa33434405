"""`attnlab seq2seq` (cli/seq2seq.py): the flags given and the per-task defaults make the settings,
the regression logs seed 002's line every 50 epochs, a note is printed as it is, and with --json
every line goes to stderr so that stdout holds the result alone. The lab itself stands in
(cli_helpers.spy_labs); the real runs: tests/labs/seq2seq/."""

from __future__ import annotations

import pytest

from cli_helpers import ANSWER_JSON, spy_labs
from train_helpers import cli_main, one_thread  # noqa: F401 (an autouse fixture)

STEPS = [("step", {"step": s, "loss": 1.0 / s}) for s in (1, 2, 50, 51, 52)]
NOTE = ("note", {"line": "a note from the lab"})
EPOCH_LINES = ["Epoch    0/120 | Loss: 1.000000", "Epoch   50/120 | Loss: 0.019608"]


def test_a_token_task_gets_its_own_defaults_and_the_flags_given(monkeypatch, capsys):
    calls = spy_labs(monkeypatch, events=[NOTE, *STEPS])
    assert cli_main(["seq2seq", "--task", "reverse", "--steps", "30", "--max-len", "6", "--no-progress"]) == 0
    settings = calls[0].settings
    assert calls[0].lab == "seq2seq" and (settings.task, settings.steps, settings.max_len) == ("reverse", 30, 6)
    assert (settings.d_model, settings.n_heads, settings.norm, settings.dropout) == (64, 4, "pre", 0.0)
    # a token task logs no epochs
    assert capsys.readouterr().out.splitlines() == ["a note from the lab", "the seq2seq report", "its second line"]


def test_the_regression_is_seed_002s_model_and_logs_every_50_epochs(monkeypatch, capsys):
    calls = spy_labs(monkeypatch, events=[NOTE, *STEPS])
    assert cli_main(["seq2seq", "--steps", "120", "--no-progress"]) == 0
    settings = calls[0].settings
    assert (settings.task, settings.d_model, settings.n_heads, settings.d_ff, settings.norm) == \
        ("plus2-regression", 16, 2, 32, "post")
    assert capsys.readouterr().out.splitlines() == ["a note from the lab", *EPOCH_LINES, "the seq2seq report",
                                                    "its second line"]


@pytest.mark.parametrize("interrupted, code", [(False, 0), (True, 130)])
def test_json_keeps_stdout_for_the_result(monkeypatch, capsys, interrupted, code):
    spy_labs(monkeypatch, events=[NOTE, *STEPS], interrupted=interrupted)
    assert cli_main(["seq2seq", "--steps", "120", "--json"]) == code
    out, err = capsys.readouterr()
    assert out == ANSWER_JSON
    assert err.splitlines() == ["a note from the lab", *EPOCH_LINES]
