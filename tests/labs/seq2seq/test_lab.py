"""attnlab.labs.seq2seq.lab: the result's JSON for each kind of run, the printed report by hand, the notes
before training, and the web lab answering what `attnlab seq2seq --json` prints."""

import json

import pytest

from train_helpers import one_thread  # noqa: F401 (an autouse fixture)

from attnlab.cli import main
from attnlab.labs.seq2seq.lab import Seq2SeqResult, alignment_lines, report, run
from attnlab.labs.seq2seq.run import Alignment, Example, RegressionResult, TokenTaskResult
from attnlab.labs.seq2seq.settings import Seq2SeqRunConfig


TINY_TASK = {"task": "copy", "vocab": 4, "max_len": 3, "d_model": 16, "n_heads": 2, "n_layers": 1, "steps": 3,
             "batch_size": 8, "eval_size": 10, "examples": 2}


def _flags(settings: dict) -> list[str]:
    return [arg for k, v in settings.items() for arg in (f"--{k.replace('_', '-')}", str(v))]


@pytest.mark.parametrize("settings", [TINY_TASK, {"task": "plus2-regression", "steps": 3}], ids=["copy", "regression"])
def test_the_web_lab_answers_what_the_command_prints(settings, tmp_path, capsys):
    """POST /api/seq2seq runs the same lab with the same settings: the same JSON as --json."""
    from starlette.testclient import TestClient

    from attnlab.serve.app import make_app
    from attnlab.serve.store import ModelStore

    assert main(["seq2seq", *_flags(settings), "--json", "--no-progress"]) == 0
    cli = json.loads(capsys.readouterr().out)
    client = TestClient(make_app(ModelStore(tmp_path, minilm=False), loopback=False))
    answer = client.post("/api/seq2seq", json=settings)
    assert answer.status_code == 200, answer.text
    assert answer.json() == cli and cli["task"] == settings["task"]
    for body, status, code in (({"out": "runs/x"}, 400, "bad_value"), ({"task": "sort", "vocab": 1}, 400, "bad_input"),
                               ({"task": "sort", "steps": 10 ** 6}, 413, "over_budget")):
        got = client.post("/api/seq2seq", json=body)
        assert (got.status_code, got.json()["code"]) == (status, code), got.text


ALIGN = Alignment(anti=True, mass={"decoder.blocks.0.cross_attn": [0.5, 0.25]}, uniform=0.3)


def test_the_json_of_each_kind_of_result():
    token = TokenTaskResult(8, False, 0.75, [Example([1, 2], [2, 1], [2, 1])], ALIGN)
    assert Seq2SeqResult(Seq2SeqRunConfig(task="reverse"), token).to_json() == {
        "task": "reverse", "step": 8, "interrupted": False, "accuracy": 0.75,
        "examples": [{"src": [1, 2], "got": [2, 1], "want": [2, 1]}],
        "cross_attention": {"anti": True, "mass": {"decoder.blocks.0.cross_attn": [0.5, 0.25]}, "uniform": 0.3}}
    stopped = Seq2SeqResult(Seq2SeqRunConfig(task="copy"), TokenTaskResult(3, True))
    assert stopped.to_json() == {"task": "copy", "step": 3, "interrupted": True} and stopped.interrupted
    predictions = {"src": [10.0], "target": [12.0], "teacher_forced": [11.5], "autoregressive": [11.0]}
    regression = Seq2SeqResult(Seq2SeqRunConfig(), RegressionResult(predictions, ALIGN._replace(anti=False)))
    assert regression.to_json()["predictions"] == predictions and not regression.interrupted


def test_the_printed_report_by_hand():
    s = Seq2SeqRunConfig(task="reverse", eval_size=20, beam=3, png="cross.png")
    lines = report(Seq2SeqResult(s, TokenTaskResult(8, False, 0.75, [Example([1, 2], [2, 1], [2, 1]),
                                                                      Example([3], [4], [3])], ALIGN)))
    assert lines == ["held-out exact match (20 sequences never seen in training, beam 3): 75.00%",
                     "  [1, 2] -> [2, 1] ok", "  [3] -> [4] (expected [3])",
                     "cross-attention anti-diagonal mass (1.0 = step i reads exactly its aligned source token; "
                     "uniform would be about 0.30):", "  decoder.blocks.0.cross_attn: head 0 0.50  head 1 0.25",
                     "wrote cross.png"]
    assert report(Seq2SeqResult(Seq2SeqRunConfig(task="copy", out="runs/c"), TokenTaskResult(3, True))) == [
        "interrupted at step 3: checkpoint saved in runs/c; continue with --resume"]
    assert report(Seq2SeqResult(Seq2SeqRunConfig(task="copy"), TokenTaskResult(3, True))) == [
        "interrupted at step 3 (nothing saved: no --out)"]
    assert alignment_lines("sort", ALIGN._replace(anti=None), None) == [
        "cross-attention: sort has no fixed source position per step (no diagonal to measure)"]
    predictions = {"src": [10.0, 20.0], "target": [12.0, 22.0], "teacher_forced": [11.5, 21.25],
                   "autoregressive": [11.0, 19.0]}
    lines = report(Seq2SeqResult(Seq2SeqRunConfig(out="runs/r"), RegressionResult(predictions, ALIGN)))
    assert lines[1:5] == ["input:                        [10.00, 20.00]",
                          "target:                       [12.00, 22.00]",
                          "prediction (teacher-forced):  [11.50, 21.25]",
                          "prediction (autoregressive):  [11.00, 19.00]"]
    assert lines[-1] == "saved runs/r" and lines[-2].startswith("  decoder.blocks.0.cross_attn")


def test_the_run_notes_what_it_does_before_training(tmp_path):
    notes = []
    settings = Seq2SeqRunConfig(task="copy", vocab=4, max_len=3, d_model=16, n_heads=2, n_layers=1, steps=2,
                                batch_size=4, eval_size=4, examples=1, pe_png=str(tmp_path / "pe.png"))
    result = run(settings, lambda kind, info: notes.append(info["line"]) if kind == "note" else None)
    assert notes == [f"wrote {tmp_path / 'pe.png'} (positional encoding, d_model 16)",
                     "task copy: values 0..3, lengths 1..3"]
    assert (tmp_path / "pe.png").read_bytes()[:4] == b"\x89PNG"
    assert result.result.step == 2 and len(result.result.examples) == 1
