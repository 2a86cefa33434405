"""The grokking lab: the Fourier measures against hand-built references, a short run, resume."""

from __future__ import annotations

import json
import math
import os
import signal

import pytest
import torch
import torch.nn.functional as F

from attnlab.cli import main
from attnlab.labs.grokking.config import GrokConfig
from attnlab.labs.grokking.data import addition_table, train_mask
from attnlab.labs.grokking.fourier import (excluded_loss, fourier_basis, frequency_norms, key_frequencies,
                                           key_share, neuron_frequencies, restricted_loss, sum_directions)
from attnlab import device
from attnlab.labs.grokking.lab import training_dtype
from attnlab.labs.grokking.run import run_grokking
from attnlab.runs.metrics import read_metrics
from attnlab.runs.folder import MARKER, RUN_FILES
from train_helpers import copy_workspace, snapshot


def waves(p: int, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.arange(p, dtype=torch.float64)
    return torch.cos(2 * math.pi * k * x / p), torch.sin(2 * math.pi * k * x / p)


@pytest.mark.parametrize("p", [7, 113])
def test_the_fourier_basis_is_orthonormal(p):
    basis, names = fourier_basis(p)
    assert basis.shape == (p, p) and names[:3] == ["const", "cos 1", "sin 1"]
    torch.testing.assert_close(basis @ basis.T, torch.eye(p), atol=1e-5, rtol=0)


def test_the_sum_directions_are_nandas_products_of_the_1d_basis():
    """cos(w(a+b)) = (cos a cos b - sin a sin b) / sqrt 2 in the 2-D basis, sin likewise (Nanda et al.)."""
    p, k = 11, 3
    basis, _ = fourier_basis(p)
    cos, sin = basis[2 * k - 1], basis[2 * k]
    outer = lambda u, v: (u[:, None] * v[None, :]).flatten()  # noqa: E731 (row a * p + b)
    expected = torch.stack([(outer(cos, cos) - outer(sin, sin)) / math.sqrt(2),
                            (outer(sin, cos) + outer(cos, sin)) / math.sqrt(2)])
    torch.testing.assert_close(sum_directions(p, k), expected, atol=1e-6, rtol=0)


def test_key_frequencies_finds_the_frequencies_planted_in_an_embedding():
    p, d = 31, 16
    generator = torch.Generator().manual_seed(0)
    W = 0.01 * torch.randn(p, d, generator=generator, dtype=torch.float64)
    for column, (k, size) in enumerate([(4, 3.0), (11, 2.0), (14, 1.7)]):
        cos, sin = waves(p, k)
        W[:, 2 * column] += size * cos
        W[:, 2 * column + 1] += size * sin
    norms = frequency_norms(W.float(), fourier_basis(p)[0])
    assert norms.shape == (p // 2,)
    assert key_frequencies(norms) == [4, 11, 14]  # strongest first
    assert key_share(norms, [4, 11, 14]) > 0.99
    # each planted wave's norm, computed directly: size * |cos_k| (= size * sqrt(p / 2)), cos and sin together
    assert norms[4 - 1].item() == pytest.approx(3.0 * math.sqrt(p / 2) * math.sqrt(2), rel=0.01)


def trig_logits(p: int, keys: list[int]) -> torch.Tensor:
    """A hand-built model's logits: sum_k cos(w_k (a + b - c)), largest at c = a + b mod p."""
    a = torch.arange(p).repeat_interleave(p)[:, None].double()  # (p*p, 1)
    b = torch.arange(p).repeat(p)[:, None].double()
    c = torch.arange(p)[None, :].double()  # (1, p)
    return 4.0 * sum(torch.cos(2 * math.pi * k * (a + b - c) / p) for k in keys).float()  # (p*p, p)


def test_a_hand_built_trig_model_is_all_restricted_and_nothing_excluded():
    p, keys = 23, [2, 7, 9]
    logits = trig_logits(p, keys)
    _, labels = addition_table(p)
    is_train = train_mask(p, 0.3, 0)
    full = F.cross_entropy(logits.double(), labels).item()
    assert (logits.argmax(dim=-1) == labels).all()  # it computes a + b mod p
    assert restricted_loss(logits, labels, p, keys) == pytest.approx(full, abs=1e-4)
    # with its frequencies removed nothing is left: uniform logits, the loss of chance
    assert excluded_loss(logits, labels, is_train, p, keys) == pytest.approx(math.log(p), abs=1e-4)
    # other frequencies are no substitute: keeping them leaves (nearly) nothing either
    assert restricted_loss(logits, labels, p, [1, 3]) == pytest.approx(math.log(p), abs=1e-3)


def test_neuron_frequencies_names_each_neurons_frequency():
    p = 17
    generator = torch.Generator().manual_seed(1)
    columns, planted = [], [3, 5, 8, 3]
    for k in planted:  # a neuron of cos(w a) cos(w b) + sin(w a): linear and product terms of one frequency
        cos, sin = waves(p, k)
        grid = (cos[:, None] * cos[None, :] + sin[:, None]).flatten()
        columns.append(grid + 0.01 * torch.randn(p * p, generator=generator, dtype=torch.float64))
    freqs, shares = neuron_frequencies(torch.stack(columns, dim=1).float(), fourier_basis(p)[0])
    assert freqs.tolist() == planted
    assert (shares > 0.99).all()


def test_the_split_and_the_table():
    inputs, labels = addition_table(5)
    assert inputs.shape == (25, 3) and (inputs[:, 2] == 5).all()
    assert labels.tolist() == [(a + b) % 5 for a in range(5) for b in range(5)]
    mask = train_mask(113, 0.3, 0)
    assert mask.sum().item() == int(0.3 * 113 * 113)
    assert torch.equal(mask, train_mask(113, 0.3, 0)) and not torch.equal(mask, train_mask(113, 0.3, 1))


SHORT = dict(p=23, train_fraction=0.3, lr=3e-3, weight_decay=0.0, eval_interval=50)


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    """300 steps at p = 23 without weight decay: it memorises and does not generalise."""
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("grok") / "run"
    code = main(["grokking", *_flags(SHORT), "--steps", "300", "--out-dir", str(out), "--json", "--no-png"])
    assert code == 0
    return out


def _flags(settings: dict) -> list[str]:
    return [arg for k, v in settings.items() for arg in (f"--{k.replace('_', '-')}", str(v))]


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


# --- bad input: one line, exit 2, the workspace exactly as it was --------------------------------

G = ["grokking", "--no-progress", "--no-png"]
OLD = ["--p", "5", "--steps", "20", "--eval-interval", "10"]  # the settings runs/g was trained with


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A learner's own folder, a language model's run (another kind) and a short grokking run."""
    ws = tmp_path_factory.mktemp("grok-ws")
    (ws / "proj").mkdir()
    (ws / "proj" / "notes.md").write_text("my notes\n", encoding="utf-8")
    lm = ws / "runs" / "lm"  # what `attnlab train` leaves, as the folder rules see it: its marker and files
    lm.mkdir(parents=True)
    (lm / MARKER).write_text(json.dumps({"written_by": "attnlab", "what": "run folder", "files": list(RUN_FILES)}))
    (lm / "config.json").write_text('{"model": {}, "train": {}}\n', encoding="utf-8")
    (lm / "state.json").write_text('{"step": 6}\n', encoding="utf-8")
    torch.set_num_threads(1)
    assert main([*G, *OLD, "--out-dir", str(ws / "runs" / "g"), "--json"]) == 0
    return ws


BAD = [  # (what, the command's arguments after `attnlab grokking`, words of the message)
    ("p not prime", ["--p", "4"], "--p must be a prime >= 3"),
    ("p below 3", ["--p", "2"], "--p must be a prime >= 3"),
    ("p negative", ["--p", "-7"], "--p must be a prime >= 3"),
    ("p not a number", ["--p", "abc"], "invalid int value"),
    ("fraction 0", ["--train-fraction", "0"], "--train-fraction must be in (0, 1)"),
    ("fraction 1", ["--train-fraction", "1"], "--train-fraction must be in (0, 1)"),
    ("fraction above 1", ["--train-fraction", "1.5"], "--train-fraction must be in (0, 1)"),
    ("fraction nan", ["--train-fraction", "nan"], "--train-fraction must be in (0, 1)"),
    ("no training pair", ["--p", "3", "--train-fraction", "0.05"], "leaves 0 of the 9 pairs for training"),
    ("steps 0", ["--steps", "0"], "--steps must be >= 1"),
    ("steps negative", ["--steps", "-3"], "--steps must be >= 1"),
    ("eval interval 0", ["--eval-interval", "0"], "--eval-interval must be >= 1"),
    ("lr nan", ["--lr", "nan"], "--lr must be > 0"),
    ("weight decay negative", ["--weight-decay", "-1"], "--weight-decay >= 0"),
    ("dtype fp16", ["--dtype", "fp16"], "--dtype must be one of fp32, bf16, auto"),
    ("threads negative", ["--threads", "-1"], "--threads must be >= 0"),
    ("resume and overwrite", ["--resume", "--overwrite", "--out-dir", "runs/g"], "exclude each other"),
    ("a folder attnlab did not make", ["--out-dir", "proj"], "was not created by attnlab"),
    ("... overwritten", ["--out-dir", "proj", "--overwrite"], "was not created by attnlab"),
    ("... resumed", ["--out-dir", "proj", "--resume"], "was not created by attnlab"),
    ("a file", ["--out-dir", "proj/notes.md"], "exists and is not a folder"),
    ("a run of another kind", ["--out-dir", "runs/lm"], "of another kind, not a grokking run"),
    ("... overwritten", ["--out-dir", "runs/lm", "--overwrite"], "of another kind, not a grokking run"),
    ("... resumed", ["--out-dir", "runs/lm", "--resume"], "of another kind, not a grokking run"),
    ("nothing to resume", ["--out-dir", "runs/none", "--resume"], "nothing to resume"),
    ("a grokking run started again", [*OLD, "--out-dir", "runs/g"], "already exists"),
    ("... resumed with other settings", ["--p", "7", *OLD[2:], "--out-dir", "runs/g", "--resume"],
     "was trained with other settings (p=5)"),
    ("... resumed to fewer steps", [*OLD[:2], "--steps", "10", *OLD[4:], "--out-dir", "runs/g", "--resume"],
     "--steps 10 is below the step"),
]


@pytest.mark.parametrize("args, words", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_grokking_input_is_one_line_and_changes_nothing(workspace, tmp_path, monkeypatch, capsys, args, words):
    assert_refused(copy_workspace(workspace, tmp_path, monkeypatch), args, words, capsys)


def test_bf16_trains_after_one_warning_on_a_cpu_without_it_and_auto_is_fp32_there(workspace, tmp_path,
                                                                                  monkeypatch, capsys):
    monkeypatch.setattr(device, "cpu_flags", lambda cpuinfo=None: ["avx2", "fma"])  # an AVX2-only CPU
    assert training_dtype("auto") == "fp32" and training_dtype("fp32") == "fp32"
    ws = copy_workspace(workspace, tmp_path, monkeypatch)
    capsys.readouterr()
    assert main([*G, "--p", "5", "--steps", "2", "--eval-interval", "1", "--dtype", "bf16", "--out-dir", "runs/b",
                 "--json"]) == 0  # as `attnlab train --dtype bf16` does there: it trains, emulated
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "no native bf16" in err[0] and "--dtype fp32" in err[0]
    assert json.loads((ws / "runs" / "b" / "config.json").read_text())["train"]["dtype"] == "bf16"
    monkeypatch.setattr(device, "cpu_flags", lambda cpuinfo=None: ["avx512f", "avx512_bf16"])
    assert training_dtype("auto") == "bf16" and training_dtype("bf16") == "bf16"
    assert main([*G, "--p", "5", "--steps", "2", "--eval-interval", "1", "--dtype", "bf16", "--out-dir", "runs/c",
                 "--json"]) == 0
    assert capsys.readouterr().err == ""  # a CPU with native bf16: nothing to warn about


def assert_refused(ws, args, words, capsys):
    """`attnlab grokking ARGS` in ws: exit 2, one line naming the problem, nothing changed."""
    before = snapshot(ws)
    try:
        code = main([*G, *args] if "--out-dir" in args else [*G, *args, "--out-dir", "runs/new"])
    except SystemExit as exc:  # argparse's exit, after its one line
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("attnlab: error: ") and words in err, err
    assert "Traceback" not in err
    assert snapshot(ws) == before


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
