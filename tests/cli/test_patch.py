"""`attnlab patch` (cli/patch.py): the flags make PatchSettings, the lab gets the model --run
opens, a picture is never written into the run it reads, and --json is strict JSON that keeps
Hangul as it is. The lab and the model stand in (cli_helpers.spy_labs); real patching:
tests/why/ and tests/labs/patching/."""

from __future__ import annotations

import json
import pytest

import attnlab.cli.patch
from cli_helpers import spy_labs, stand_in_source
from train_helpers import cli_main, one_thread  # noqa: F401 (an autouse fixture)

from attnlab.labs.patching.settings import PatchSettings

PATH_ANSWER = dict(data={"path": "0.1->1.0.k"}, model="tiny", direction="denoising")


@pytest.fixture
def opened(monkeypatch):
    return stand_in_source(monkeypatch, attnlab.cli.patch)


def test_the_flags_reach_the_lab_with_the_opened_model(monkeypatch, capsys, opened):
    calls = spy_labs(monkeypatch, **PATH_ANSWER)
    argv = ["patch", "--run", "runs/r", "--clean", "나는 사과", "--corrupt", "나는 배를", "--points", "resid,heads",
            "--direction", "noising", "--path", "0.1->1.0.k"]
    assert cli_main(argv) == 0
    assert calls[0].lab == "patch" and calls[0].context == {"opened": opened}
    assert calls[0].settings == PatchSettings(run="runs/r", clean="나는 사과", corrupt="나는 배를",
                                              points=("resid", "heads"), direction="noising", path="0.1->1.0.k")
    assert capsys.readouterr().out == "the patch report\nits second line\n"


def test_json_is_strict_and_keeps_hangul(monkeypatch, capsys, opened):
    spy_labs(monkeypatch, **PATH_ANSWER)
    monkeypatch.setattr("cli_helpers.Answer.to_json", lambda self: {"answer": "사과", "ld": float("inf")})
    assert cli_main(["patch", "--run", "runs/r", "--clean", "a", "--corrupt", "b", "--json"]) == 0
    out = capsys.readouterr().out
    assert out == '{"answer": "사과", "ld": null}\n' and json.loads(out)["ld"] is None


@pytest.mark.parametrize("flag", ["--png", "--html"])
def test_a_picture_inside_the_run_folder_is_refused_before_the_lab(monkeypatch, capsys, opened, tmp_path, flag):
    calls = spy_labs(monkeypatch, **PATH_ANSWER)
    (tmp_path / "run").mkdir()
    inside = tmp_path / "run" / "patch.png"
    assert cli_main(["patch", "--run", str(tmp_path / "run"), "--clean", "a", "--corrupt", "b", flag, str(inside)]) == 2
    assert "is inside the run folder" in capsys.readouterr().err
    assert calls == [] and not inside.exists()
