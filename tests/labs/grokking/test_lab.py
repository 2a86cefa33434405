"""attnlab.labs.grokking.lab: the logits at '=', the loss trained on, one evaluation's numbers by
hand, the resume checks and the training dtype."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F

from grokking_helpers import G
from train_helpers import copy_workspace

from attnlab import device
from attnlab.cli import main
from attnlab.errors import UserError
from attnlab.labs.grokking.config import GrokConfig
from attnlab.labs.grokking.data import addition_table, train_mask
from attnlab.labs.grokking.fourier import fourier_basis, frequency_norms
from attnlab.labs.grokking.lab import (LAB_FILE, Task, answer_loss, check_resumable, last_logits, measure,
                                       start_run, training_dtype)
from attnlab.model.gpt import GPT


def small(p: int = 5) -> tuple[GrokConfig, GPT, Task]:
    cfg = GrokConfig(p=p, train_fraction=0.4, steps=20)
    torch.manual_seed(0)
    return cfg, GPT(cfg.model_config()), Task.make(cfg)


def test_the_task_is_the_table_and_the_seeded_split():
    cfg, _, task = small(7)
    inputs, labels = addition_table(7)
    assert task.p == 7 and torch.equal(task.inputs, inputs) and torch.equal(task.labels, labels)
    assert torch.equal(task.is_train, train_mask(7, 0.4, cfg.seed))


def test_the_logits_at_equals_and_the_loss_are_the_full_forwards_last_position():
    _, model, task = small()
    model.eval()
    with torch.no_grad():
        full, _ = model(task.inputs)  # (p*p, 3, V): every position
        torch.testing.assert_close(last_logits(model, task.inputs), full[:, -1])
        loss = answer_loss(model, (task.inputs, task.labels))
    torch.testing.assert_close(loss, F.cross_entropy(full[:, -1], task.labels))


def test_one_evaluation_measures_what_it_says_and_keeps_the_mode():
    _, model, task = small()
    model.train()
    got = measure(model, task)
    assert model.training  # back in the mode it was in
    with torch.no_grad():
        logits = model.eval()(task.inputs)[0][:, -1]  # (p*p, V)
    losses = F.cross_entropy(logits, task.labels, reduction="none")
    right = logits.argmax(-1) == task.labels
    train, test = task.is_train, ~task.is_train
    assert got["train_loss"] == pytest.approx(losses[train].mean().item(), rel=1e-5)
    assert got["test_loss"] == pytest.approx(losses[test].mean().item(), rel=1e-5)
    assert got["train_acc"] == pytest.approx(right[train].sum().item() / train.sum().item())
    assert got["test_acc"] == pytest.approx(right[test].sum().item() / test.sum().item())
    every = torch.cat([p.detach().flatten() for p in model.parameters()])
    assert got["weight_norm"] == pytest.approx(every.norm().item(), rel=1e-5)
    norms = frequency_norms(model.token_embedding_table.weight[:5], fourier_basis(5)[0])
    assert got["frequency_norms"] == pytest.approx(norms.tolist(), abs=1e-5)
    assert len(got["frequency_norms"]) == 2 and math.isfinite(got["restricted_loss"])


def test_a_resumed_run_must_repeat_its_settings(tmp_path):
    cfg = GrokConfig(p=5, steps=20, eval_interval=10)
    with pytest.raises(UserError, match="not a grokking run .no grokking.json.: nothing to resume"):
        check_resumable(cfg, tmp_path)
    start_run(cfg, tmp_path, "fp32")
    assert json.loads((tmp_path / LAB_FILE).read_text())["p"] == 5
    check_resumable(cfg, tmp_path)  # no state.json yet: step 0
    check_resumable(GrokConfig(p=5, steps=40, eval_interval=10), tmp_path)  # only the steps grow
    with pytest.raises(UserError, match=r"other settings \(lr=0.001\); give the same ones"):
        check_resumable(GrokConfig(p=5, steps=20, eval_interval=10, lr=2e-3), tmp_path)
    (tmp_path / "state.json").write_text('{"step": 15}')
    with pytest.raises(UserError, match="--steps 10 is below the step .* reached .15."):
        check_resumable(GrokConfig(p=5, steps=10, eval_interval=10), tmp_path)
    (tmp_path / LAB_FILE).write_text("[1, 2]")
    with pytest.raises(UserError, match="is not a grokking lab's settings file"):
        check_resumable(cfg, tmp_path)


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

