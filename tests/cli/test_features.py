"""`attnlab features` (cli/features.py): the flags (--feature and --neurons among them) make
FeaturesSettings, the lab gets the model --run opens, --json prints the result alone. The lab and
the model stand in (cli_helpers.spy_labs); the real browser: tests/labs/sae/."""

from __future__ import annotations

import pytest

import attnlab.cli._source_args
from cli_helpers import ANSWER_JSON, spy_labs, stand_in_source
from train_helpers import cli_main, one_thread  # noqa: F401 (an autouse fixture)

from attnlab.labs.sae.settings import FeaturesSettings


@pytest.fixture
def opened(monkeypatch):
    return stand_in_source(monkeypatch, attnlab.cli._source_args)


def test_feature_and_neurons_are_the_unit_and_the_kind(monkeypatch, capsys, opened):
    calls = spy_labs(monkeypatch)
    assert cli_main(["features", "--run", "runs/r", "--feature", "17", "--neurons", "--top", "5"]) == 0
    assert calls[0].lab == "features" and calls[0].context == {"opened": opened}
    assert calls[0].settings == FeaturesSettings(run="runs/r", unit=17, kind="neuron", top=5)
    assert cli_main(["features", "--run", "runs/r", "--text", "To be", "--sae", "sae-blocks.1.out-x8"]) == 0
    assert calls[1].settings == FeaturesSettings(run="runs/r", text="To be", sae="sae-blocks.1.out-x8")
    assert capsys.readouterr().out == "the features report\nits second line\n" * 2


def test_json_is_the_result_alone(monkeypatch, capsys, opened):
    spy_labs(monkeypatch)
    assert cli_main(["features", "--run", "runs/r", "--json"]) == 0
    assert capsys.readouterr().out == ANSWER_JSON


def test_an_html_page_that_cannot_be_written_is_refused_before_the_lab(monkeypatch, capsys, opened, tmp_path):
    calls = spy_labs(monkeypatch)
    assert cli_main(["features", "--run", "runs/r", "--html", str(tmp_path / "no" / "f.html")]) == 2
    assert "does not exist" in capsys.readouterr().err and calls == []
