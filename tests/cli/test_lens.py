"""`attnlab lens` (cli/lens.py): TEXT or --text and the other flags make LensSettings, the lab gets
the model --run opens, --json is strict (a NaN is null, and said on stderr), --html draws p(next)
by layer. The lab and the model stand in (cli_helpers.spy_labs); the real lens on a trained run:
tests/labs/lens/."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

import attnlab.cli.lens
from cli_helpers import spy_labs, stand_in_source
from train_helpers import cli_main, one_thread  # noqa: F401 (an autouse fixture)

from attnlab.labs.lens.settings import LensSettings

LENS = SimpleNamespace(tokens=["a", "<b>"], layers=["embed", "blocks.0"], p_next=[[0.5, 0.25], [0.75, 1.0]])


@pytest.fixture
def opened(monkeypatch):
    return stand_in_source(monkeypatch, attnlab.cli.lens)


@pytest.mark.parametrize("text_flags", [["abc"], ["--text", "abc"]])
def test_the_text_the_run_and_k_reach_the_lab_with_the_opened_model(monkeypatch, capsys, opened, text_flags):
    calls = spy_labs(monkeypatch, lens=LENS, model="tiny")
    assert cli_main(["lens", *text_flags, "--run", "runs/r", "--k", "3"]) == 0
    assert calls[0].lab == "lens" and calls[0].settings == LensSettings(run="runs/r", text="abc", k=3)
    assert calls[0].context == {"opened": opened} and opened.asked == ["runs/r"]
    assert capsys.readouterr().out == "the lens report\nits second line\n"


def test_json_is_strict_and_a_nan_is_said_on_stderr(monkeypatch, capsys, opened):
    spy_labs(monkeypatch, lens=LENS, model="tiny")
    assert cli_main(["lens", "abc", "--run", "runs/r", "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == {"answer": 42, "loss": None, "steps": [1, 2]}
    assert err.startswith("attnlab: warning: 1 number in the lens is NaN or infinite")


def test_html_draws_p_next_by_layer_and_the_run_is_needed(monkeypatch, capsys, opened, tmp_path):
    spy_labs(monkeypatch, lens=LENS, model="tiny")
    page = tmp_path / "lens.html"
    assert cli_main(["lens", "abc", "--run", "runs/r", "--html", str(page)]) == 0
    assert capsys.readouterr().out.endswith(f"its second line\nwrote {page}\n")
    html = page.read_text(encoding="utf-8")
    assert "tiny: p(next token) by layer" in html and "blocks.0" in html and "1:&lt;b&gt;" in html
    assert cli_main(["lens", "abc"]) == 2
    assert "name the run folder: --run DIR" in capsys.readouterr().err
