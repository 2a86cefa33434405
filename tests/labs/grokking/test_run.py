"""attnlab.labs.grokking.run: a short run end to end (through the command), Ctrl-C and resume, the
folder rules, the printed report, and the web lab's answer."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
import torch

from grokking_helpers import SHORT, flags as _flags

from attnlab.cli import main
from attnlab.errors import UserError
from attnlab.labs.grokking.config import GrokConfig
from attnlab.labs.grokking.run import GrokResult, check_kind, report, run_grokking
from attnlab.runs.metrics import read_metrics


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    """300 steps at p = 23 without weight decay: it memorises and does not generalise."""
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("grok") / "run"
    code = main(["grokking", *_flags(SHORT), "--steps", "300", "--out-dir", str(out), "--json", "--no-png"])
    assert code == 0
    return out


def test_a_short_run_memorises_while_the_test_stays_near_chance(short_run):
    summary = json.loads((short_run / "summary.json").read_text())
    assert summary["final"]["train_acc"] == 1.0
    assert summary["final"]["test_acc"] < 0.3  # chance is 1/23; memorised pairs say little about the rest
    assert summary["memorised_at"] is not None and summary["grokked_at"] is None
    assert set(summary) == {"p", "train_fraction", "steps", "memorised_at", "grokked_at", "final",
                            "key_frequencies", "key_share", "restricted_loss", "excluded_loss", "run"}
    history = read_metrics(short_run)
    assert [r["step"] for r in history] == list(range(0, 301, 50))
    assert len(history[-1]["frequency_norms"]) == 11


def test_attention_and_explain_read_the_lab_run(short_run, capsys):
    assert main(["attention", "3 5 =", "--run", str(short_run)]) == 0
    assert "=" in capsys.readouterr().out


def test_ctrl_c_keeps_the_last_step_and_the_run_resumes_exactly(tmp_path):
    """Ctrl-C at step 30 of 40, resumed to 40, then continued to 60: the same run as 60 straight steps."""
    torch.set_num_threads(1)
    settings = dict(SHORT, eval_interval=20)
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"

    def press_ctrl_c(kind, info):
        if kind == "step" and info["step"] == 30:
            os.kill(os.getpid(), signal.SIGINT)  # the loop saves and stops after this step

    done = run_grokking(GrokConfig(**settings, steps=60), straight, png=False)
    result = run_grokking(GrokConfig(**settings, steps=40), stopped, png=False, on_event=press_ctrl_c)
    assert result.interrupted and result.files == []
    assert json.loads((stopped / "state.json").read_text())["step"] == 30
    assert [r["step"] for r in read_metrics(stopped)] == [0, 20]  # the evaluations before the stop
    names = {p.name for p in stopped.iterdir()}
    assert {"config.json", "grokking.json", "metrics.jsonl", "state.json", "tokenizer"} <= names
    assert not names & {"summary.json", "report.md", "grokking.png"}  # the analysis is written at the end
    assert len([n for n in names if n.startswith("checkpoint-")]) == 1
    assert run_grokking(GrokConfig(**settings, steps=40), stopped, "resume", png=False).summary["steps"] == 40
    resumed = run_grokking(GrokConfig(**settings, steps=60), stopped, "resume", png=False)
    assert read_metrics(stopped) == read_metrics(straight)
    assert {**resumed.summary, "run": ""} == {**done.summary, "run": ""}


def test_the_web_lab_answers_what_the_command_prints(tmp_path, capsys):
    """POST /api/grokking runs the same lab into runs/web-grokking (the folder the panel writes,
    never one the page names): the same JSON as --json, and a run the lab's other panels open."""
    from starlette.testclient import TestClient

    from attnlab.serve.app import make_app
    from attnlab.serve.store import ModelStore

    runs = tmp_path / "runs"
    settings = dict(p=5, steps=3, eval_interval=1, png=False)
    assert main(["grokking", "--p", "5", "--steps", "3", "--eval-interval", "1", "--no-png", "--overwrite",
                 "--out-dir", str(runs / "web-grokking"), "--json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    client = TestClient(make_app(ModelStore(runs, minilm=False), loopback=False))
    answer = client.post("/api/grokking", json=settings)
    assert answer.status_code == 200, answer.text
    assert answer.json() == cli and cli["run"] == str(runs.resolve() / "web-grokking")
    assert "web-grokking" in [m["run"] for m in client.get("/api/models").json()["models"]]
    for body, status, code in (({**settings, "out_dir": "/tmp/x"}, 400, "bad_value"), ({"p": 4}, 400, "bad_input"),
                               ({"p": "five"}, 400, "bad_type"), ({"steps": 10 ** 6}, 413, "over_budget")):
        got = client.post("/api/grokking", json=body)
        assert (got.status_code, got.json()["code"]) == (status, code), got.text


def test_check_kind_lets_a_new_empty_or_grokking_folder_through_and_refuses_another_kind(tmp_path):
    from attnlab.runs.folder import MARKER, RUN_FILES

    check_kind(tmp_path / "new")  # not there yet
    other = tmp_path / "lm"
    other.mkdir()
    (other / MARKER).write_text(json.dumps({"written_by": "attnlab", "what": "run folder", "files": list(RUN_FILES)}))
    check_kind(other)  # a marker and nothing else: an empty attnlab folder
    (other / "config.json").write_text("{}")
    with pytest.raises(UserError, match="attnlab run folder of another kind, not a grokking run"):
        check_kind(other)
    grok = tmp_path / "grok"
    grok.mkdir()
    (grok / MARKER).write_text(json.dumps({"written_by": "attnlab", "what": "run folder",
                                           "files": [*RUN_FILES, "grokking.json"]}))
    (grok / "config.json").write_text("{}")
    check_kind(grok)  # a grokking run's own fixed names


def test_the_report_is_the_story_then_the_files_or_how_to_go_on():
    s = {"steps": 30, "run": "runs/g"}
    done = GrokResult(s, ["first.", "second."], False, [Path("runs/g/summary.json"), Path("runs/g/report.md")])
    assert report(done) == ["", "first.", "", "second.", "", "wrote runs/g/summary.json, runs/g/report.md"]
    assert done.to_json() is s
    stopped = report(GrokResult(s, ["first."], True, []))
    assert stopped[:3] == ["", "first.", ""]
    assert stopped[3] == ("interrupted at step 30: checkpoint saved. Continue with:\n"
                          "  attnlab grokking --out-dir runs/g --resume")
