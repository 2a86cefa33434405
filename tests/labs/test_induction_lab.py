import json
import sys
from pathlib import Path

import pytest
import torch
from matplotlib.figure import Figure

from attnlab.cli import main
from attnlab.config import GPTConfig
from attnlab.labs.induction.ablation import causal_check, copy_losses, losses_by_copy, path_removal
from attnlab.labs.induction.config import LabConfig
from attnlab.labs.induction.lab import detected_heads, formed_at, new_model, run_lab
from attnlab.labs.induction.report import plot_head_scores
from attnlab.labs.induction.scores import HeadScores, repeated_tokens
from attnlab.model.gpt import GPT

from train_helpers import one_thread  # noqa: E402,F401 (an autouse fixture)

SHORT = dict(steps=4, eval_interval=2, stream_tokens=5000, eval_batch=4, batch_size=4)
CONTRACT = {"layers", "best_induction", "best_previous", "first_copy_loss", "second_copy_loss",
            "ablate_detected", "ablate_random", "formed_at_step"}


def tiny_model(n_layers: int = 2) -> GPT:
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=20, max_seq_len=16, d_model=16, n_heads=2, n_layers=n_layers, ffn=False)).eval()


def test_copy_losses_split_the_two_copies():
    model = tiny_model()
    ids = repeated_tokens(5, 3, 20, torch.Generator().manual_seed(0))  # (3, 10)
    logits, _ = model(ids)
    logp = torch.log_softmax(logits, dim=-1)
    target = logp[:, :-1].gather(-1, ids[:, 1:, None])[..., 0]  # (B, T-1): log p(token t+1)
    first, second = copy_losses(model, ids, 5)
    assert first == pytest.approx(-target[:, 0:4].mean().item(), rel=1e-5)
    assert second == pytest.approx(-target[:, 5:9].mean().item(), rel=1e-5)


def test_ablating_no_head_is_the_baseline_and_a_head_is_its_w_o_columns_zeroed():
    model = tiny_model()
    ids = repeated_tokens(5, 3, 20, torch.Generator().manual_seed(0))
    with torch.no_grad():
        plain = losses_by_copy(model(ids)[0], ids, 5)  # no intervention at all
    assert copy_losses(model, ids, 5, []) == plain
    ablated = copy_losses(model, ids, 5, [(1, 0), (0, 1)])
    d = model.config.d_head
    with torch.no_grad():  # the same ablation by hand: the heads' slices of W_O's input are zeroed
        model.blocks[1].attn.proj.weight[:, 0:d] = 0
        model.blocks[0].attn.proj.weight[:, d:2 * d] = 0
    by_hand = copy_losses(model, ids, 5)
    assert ablated[0] == pytest.approx(by_hand[0], rel=1e-5)
    assert ablated[1] == pytest.approx(by_hand[1], rel=1e-5)
    assert ablated != plain


def test_causal_check_draws_the_same_number_of_other_heads():
    model = tiny_model(3)
    ids = repeated_tokens(5, 2, 20, torch.Generator().manual_seed(0))
    check = causal_check(model, ids, 5, [(1, 0), (2, 1)], n_heads=2, n_layers=3, draws=5, seed=0)
    assert check.baseline == copy_losses(model, ids, 5)[1]
    assert len(check.random_sets) == 5 and len(check.random_losses) == 5
    for heads in check.random_sets:
        assert len(heads) == 2 and not set(heads) & {(1, 0), (2, 1)}
    assert check.ablate_random == sorted(check.random_losses)[2]  # the median of five
    assert sorted(check.others_alone) == [(0, 0), (0, 1), (1, 1), (2, 0)]  # every head not detected, once
    d = model.config.d_head
    with torch.no_grad():  # head 0.1 zeroed by hand: its slice of W_O's input
        model.blocks[0].attn.proj.weight[:, d:2 * d] = 0
    assert check.others_alone[(0, 1)] == pytest.approx(copy_losses(model, ids, 5)[1], rel=1e-5)


def test_path_removal_removes_layer_0_from_one_input_of_layer_1():
    model = tiny_model()
    with torch.no_grad():
        for p in model.parameters():  # weights large enough for every path to matter
            p.normal_(std=0.5)
    ids = repeated_tokens(5, 3, 20, torch.Generator().manual_seed(0))
    removal = path_removal(model, ids, 5, n_heads=2)
    baseline = copy_losses(model, ids, 5)[1]
    assert set(removal) == {"key", "query", "value"} and all(v != baseline for v in removal.values())
    with torch.no_grad():  # layer 0 writes nothing but W_O's bias: no path has anything to remove
        model.blocks[0].attn.proj.weight.zero_()
    still = copy_losses(model, ids, 5)[1]
    assert path_removal(model, ids, 5, n_heads=2) == pytest.approx({k: still for k in removal}, abs=1e-6)
    assert causal_check(model, ids, 5, [(1, 0)], n_heads=2, n_layers=2).path_removal is not None
    assert causal_check(tiny_model(1), ids, 5, [(0, 0)], n_heads=2, n_layers=1).path_removal is None


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


def test_lab_config_checks_the_repeat_fits():
    with pytest.raises(ValueError, match="n \\(40\\)"):
        LabConfig(n=40)
    with pytest.raises(ValueError, match="layers"):
        LabConfig(layers=())


def test_induction_cli_json_has_exactly_the_contract(capsys, tmp_path):
    rc = main(["induction", "--steps", "2", "--eval-interval", "1", "--layers", "2", "--out-dir", str(tmp_path),
               "--json"])
    out = capsys.readouterr().out
    assert rc == 0
    data = json.loads(out)
    assert list(data) == ["models"] and len(data["models"]) == 1
    model = data["models"][0]
    assert set(model) == CONTRACT | {"path_removal"} and model["layers"] == 2
    assert set(model["path_removal"]) == {"key", "query", "value"}
    assert set(model["best_induction"]) == {"layer", "head", "score"}
    assert set(model["best_previous"]) == {"layer", "head", "score"}


def test_induction_cli_prints_progress_and_the_report(capsys, tmp_path):
    rc = main(["induction", "--steps", "2", "--eval-interval", "2", "--layers", "1", "--out-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 0
    assert "1-layer model:" in out and "step     2" in out and "report.md" in out


@pytest.mark.parametrize("argv, match", [(["--layers", "1,x"], "comma-separated"), (["--layers", "0"], "positive"),
                                         (["--steps", "0"], "--steps")])
def test_induction_cli_bad_flags_are_one_line(capsys, tmp_path, argv, match):
    rc = main(["induction", "--out-dir", str(tmp_path), *argv])
    err = capsys.readouterr().err
    assert rc == 2 and match in err and len(err.strip().splitlines()) == 1


def test_head_score_heatmap_is_a_figure():
    scores = HeadScores(*(torch.rand(2, 3) for _ in range(3)))
    assert isinstance(plot_head_scores(scores, title="t"), Figure)


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
