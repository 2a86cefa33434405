"""attnlab.train_run: a run folder trained from Python in a few lines, opened by load_model and by
the commands; its folder rules, resume and runtime decision are `attnlab train`'s."""

from __future__ import annotations

import dataclasses
import json
import os
import signal

import pytest
import torch

import attnlab
import attnlab.runtime.decision
import attnlab.train.gpt
import attnlab.train.run
from attnlab.errors import UserError
from attnlab.runs.metrics import read_metrics

from train_helpers import TEXT, cli_main, one_thread, snapshot  # noqa: F401 (an autouse fixture)

TINY = dict(n_layers=1, n_heads=2, d_model=16, block_size=16, batch_size=4, max_iters=6, eval_interval=3,
            eval_iters=2, warmup_iters=2, dropout=0.1, log_interval=1)


@pytest.fixture
def cfg(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    return attnlab.preset_config("cpu", corpus=str(corpus), **TINY)


def logged(run_dir) -> list[dict]:
    keep = ("step", "loss", "lr", "train_loss", "val_loss")
    return [{k: m[k] for k in keep if k in m} for m in read_metrics(run_dir)]


def test_a_run_from_python_opens_with_load_model_and_the_commands(cfg, tmp_path, capsys):
    events = []
    result = attnlab.train_run(cfg, tmp_path / "runs" / "mine", on_event=lambda kind, info: events.append(kind))
    run = tmp_path / "runs" / "mine"
    assert result.trained.step == 6 and not result.interrupted and result.run_dir == run
    assert events[0] == "run" and "start" in events and "eval" in events
    saved = json.loads((run / "config.json").read_text(encoding="utf-8"))
    assert saved["train"]["dtype"] == result.runtime.dtype == result.cfg.dtype != "auto"  # the choice is stored
    model, tokenizer = attnlab.load_model(run)
    assert tokenizer.vocab_size == result.tokenizer.vocab_size
    for name, value in result.model.state_dict().items():
        torch.testing.assert_close(model.state_dict()[name], value, rtol=0, atol=0)
    capsys.readouterr()
    assert cli_main(["generate", "--run", str(run), "--prompt", "First", "--max-new-tokens", "5"]) == 0
    assert capsys.readouterr().out.startswith("First")
    assert cli_main(["attention", "First", "--run", str(run)]) == 0


def test_resume_from_python_equals_an_uninterrupted_run(cfg, tmp_path):
    straight = attnlab.train_run(cfg, tmp_path / "straight")

    def press_ctrl_c(kind, info):
        if kind == "step" and info["step"] == 4:
            os.kill(os.getpid(), signal.SIGINT)  # the loop saves and stops after this step

    first = attnlab.train_run(cfg, tmp_path / "resumed", on_event=press_ctrl_c)
    assert first.interrupted and first.trained.step == 4
    second = attnlab.train_run(cfg, tmp_path / "resumed", resume=True)
    assert second.trained.step == 6 and not second.interrupted
    assert logged(tmp_path / "resumed") == logged(tmp_path / "straight")
    for name, value in straight.model.state_dict().items():
        assert torch.equal(second.model.state_dict()[name], value), name


def test_the_run_folder_rules_hold_for_a_python_caller(cfg, tmp_path):
    run = tmp_path / "run"
    attnlab.train_run(cfg, run)
    before = snapshot(run)
    with pytest.raises(UserError, match="already exists"):
        attnlab.train_run(cfg, run)
    with pytest.raises(UserError, match="contradict"):
        attnlab.train_run(cfg, run, resume=True, overwrite=True)
    with pytest.raises(UserError, match=r"conflicting config: d_model \(16 -> 32\)"):
        attnlab.train_run(dataclasses.replace(cfg, d_model=32), run, resume=True)
    with pytest.raises(UserError, match="nothing to resume"):
        attnlab.train_run(cfg, tmp_path / "missing", resume=True)
    assert snapshot(run) == before and not (tmp_path / "missing").exists()
    attnlab.train_run(dataclasses.replace(cfg, seed=5), run, overwrite=True)
    assert json.loads((run / "config.json").read_text(encoding="utf-8"))["train"]["seed"] == 5
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(UserError, match="not created by attnlab"):
        attnlab.train_run(cfg, theirs, overwrite=True)
    assert (theirs / "notes.txt").read_text(encoding="utf-8") == "mine"


@pytest.mark.parametrize("change, words", [(dict(corpus="missing.txt"), "missing.txt"),
                                           (dict(d_model=65536, n_heads=1, n_layers=64), "available")])
def test_bad_input_fails_before_the_folder_is_made(cfg, tmp_path, change, words):
    with pytest.raises(UserError, match=words):
        attnlab.train_run(dataclasses.replace(cfg, **change), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_device_and_dtype_are_decided_once(cfg, tmp_path, monkeypatch):
    calls = []
    real = attnlab.runtime.decision.decide

    def counted(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    for module in (attnlab.train.run, attnlab.train.gpt):
        monkeypatch.setattr(module, "decide", counted)
    attnlab.train_run(cfg, tmp_path / "run")
    assert calls == [("auto", "auto", 0)]  # train_run's; the loop uses what it chose
