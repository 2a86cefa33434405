"""attnlab.labs.induction.lab: which heads count as detected, when the head formed, the models, the
lab end to end into its folder, and the web lab's answer."""

import json

import pytest
import torch

from induction_helpers import CONTRACT, SHORT, tiny_model
from train_helpers import one_thread  # noqa: E402,F401 (an autouse fixture)

from attnlab.cli import main
from attnlab.errors import UserError
from attnlab.labs.induction.ablation import copy_losses
from attnlab.labs.induction.config import LabConfig
from attnlab.labs.induction.lab import (check_lab_memory, detected_heads, evaluation, formed_at, new_model, probe,
                                        run_lab)
from attnlab.labs.induction.scores import HeadScores, detect_heads, repeated_tokens


def test_detected_heads_above_the_threshold_or_else_the_two_best():
    scores = HeadScores(previous=torch.tensor([[0.9, 0.1], [0.2, 0.1]]),
                        induction=torch.tensor([[0.0, 0.1], [0.1, 0.7]]), duplicate=torch.zeros(2, 2))
    assert detected_heads(scores, 0.4) == [(0, 0), (1, 1)]
    assert detected_heads(scores, 0.95) == [(0, 0), (1, 1)]  # none above: best induction + best previous
    weak = HeadScores(previous=torch.tensor([[0.3, 0.1]]), induction=torch.tensor([[0.3, 0.2]]),
                      duplicate=torch.zeros(1, 2))
    assert detected_heads(weak, 0.4) == [(0, 0)]  # the same head is best at both


def test_formed_at_is_the_first_evaluation_above_the_threshold():
    history = [{"step": s, "heads": [{"induction": x}, {"induction": 0.0}]}
               for s, x in ((0, 0.1), (50, 0.45), (100, 0.3), (150, 0.8))]
    assert formed_at(history, 0.4) == 50
    assert formed_at(history, 0.9) is None


def test_the_lab_runs_end_to_end_and_writes_its_folder(tmp_path):
    cfg = LabConfig(layers=(1, 2), **SHORT)
    events = []
    results = run_lab(cfg, tmp_path, on_event=lambda kind, info: events.append(kind))
    assert [r.layers for r in results] == [1, 2]
    assert events.count("eval") == 2 * 3  # steps 0, 2, 4 for each model
    for r in results:
        lines = (tmp_path / f"layers-{r.layers}" / "metrics.jsonl").read_text().splitlines()
        records = [json.loads(line) for line in lines]
        assert [rec["step"] for rec in records] == [0, 2, 4]
        assert len(records[-1]["heads"]) == r.layers * cfg.n_heads
        assert (tmp_path / f"layers-{r.layers}" / "induction.png").stat().st_size > 0
        assert set(r.summary()) == (CONTRACT | {"path_removal"} if r.layers == 2 else CONTRACT)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert [m["layers"] for m in summary["models"]] == [1, 2]
    report = (tmp_path / "report.md").read_text()
    assert "![2-layer model](layers-2/induction.png)" in report and "| layers |" in report


def test_models_are_attention_only_and_differ_only_in_depth():
    cfg = LabConfig(**SHORT)
    one, two = new_model(cfg, 1), new_model(cfg, 2)
    assert (len(one.blocks), len(two.blocks)) == (1, 2)
    assert all(b.ffwd is None for b in [*one.blocks, *two.blocks])
    assert {k: v for k, v in vars(one.config).items() if k != "n_layers"} == \
        {k: v for k, v in vars(two.config).items() if k != "n_layers"}
    assert torch.equal(new_model(cfg, 2).blocks[1].attn.qkv.weight, two.blocks[1].attn.qkv.weight)  # seeded


def test_the_web_lab_answers_what_the_command_prints(capsys, tmp_path):
    """POST /api/induction runs the same lab into runs/web-induction: the same JSON as --json."""
    from starlette.testclient import TestClient

    from attnlab.serve.app import make_app
    from attnlab.serve.store import ModelStore

    runs = tmp_path / "runs"
    assert main(["induction", "--steps", "2", "--eval-interval", "1", "--layers", "2", "--stream-tokens", "4096",
                 "--out-dir", str(runs / "web-induction"), "--json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    client = TestClient(make_app(ModelStore(runs, minilm=False), loopback=False))
    answer = client.post("/api/induction", json={"steps": 2, "eval_interval": 1, "layers": [2], "stream_tokens": 4096})
    assert answer.status_code == 200, answer.text
    assert answer.json() == cli == json.loads((runs / "web-induction" / "summary.json").read_text())
    for body, status, code in (({"layers": [0]}, 400, "bad_input"), ({"layers": "2"}, 400, "bad_type"),
                               ({"out_dir": "x"}, 400, "bad_value"), ({"steps": 10 ** 6}, 413, "over_budget")):
        got = client.post("/api/induction", json=body)
        assert (got.status_code, got.json()["code"]) == (status, code), got.text


def test_one_evaluation_record_by_hand():
    scores = HeadScores(previous=torch.tensor([[0.5, 0.25]]), induction=torch.tensor([[0.125, 0.0]]),
                        duplicate=torch.zeros(1, 2))
    losses = [1.0, 3.0]
    record = evaluation(40, losses, scores, first=2.0, second=0.5)
    assert record == {"step": 40, "train_loss": 2.0, "first_copy_loss": 2.0, "second_copy_loss": 0.5,
                      "loss_ratio": 0.25, "heads": scores.rows()}
    assert losses == []  # emptied for the next interval
    assert evaluation(0, losses, scores, 1.0, 1.0)["train_loss"] is None  # before the first step


def test_a_probe_is_detect_heads_scores_and_the_copy_losses_of_one_pass():
    model = tiny_model()
    ids = repeated_tokens(5, 3, 20, torch.Generator().manual_seed(2))  # (3, 10)
    scores, first, second = probe(model, ids, 5)
    expected = detect_heads(model, 5, batch=3, seed=2)  # the same sequences, drawn from the same seed
    for name in ("previous", "induction", "duplicate"):
        torch.testing.assert_close(getattr(scores, name), getattr(expected, name))
    assert (first, second) == pytest.approx(copy_losses(model, ids, 5), rel=1e-6)


def test_the_deepest_model_must_fit_before_any_is_built(monkeypatch):
    import attnlab.model.memory as memory

    monkeypatch.setattr(memory, "available_memory", lambda device="cpu": 1000)
    with pytest.raises(UserError, match=r"the 3-layer model of --layers needs .* of memory, but 1.0 kB is "
                                        r"available on cpu; pass fewer layers"):
        check_lab_memory(LabConfig(layers=(1, 3)))
    monkeypatch.setattr(memory, "available_memory", lambda device="cpu": None)  # unknown: not refused
    check_lab_memory(LabConfig(layers=(1, 3)))
