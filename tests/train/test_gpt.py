"""train/gpt.py: the loss estimate, the optimizer's groups, overfitting, a run folder, exact resume, a NaN
stop, DDP (the schedule and the loop itself: test_loop.py)."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from attnlab.runs import checkpoint as ckpt
from attnlab.runs.metrics import read_metrics
from attnlab.config import GPTConfig, TrainConfig
from attnlab.train.data import get_batch
from attnlab.io import load_tensors
from attnlab.model.gpt import GPT
from attnlab.tokenizers import build_tokenizer
from attnlab.train.gpt import configure_optimizer, encode_corpus, estimate_loss, train
from attnlab.train.loop import TrainingDiverged

from train_helpers import TEXT, one_thread  # noqa: E402,F401 (an autouse fixture)

SMALL = dict(n_layers=2, n_heads=2, d_model=16, block_size=16, batch_size=4, max_iters=12, eval_interval=4,
             eval_iters=2, warmup_iters=3, log_interval=1)


def small_run(**overrides):
    cfg = TrainConfig(**{**SMALL, **overrides})
    tokenizer = build_tokenizer("char", TEXT)
    train_data, val_data = encode_corpus(TEXT, tokenizer, cfg)
    return cfg, tokenizer, train_data, val_data


def logged(run_dir) -> list[dict]:
    """metrics.jsonl without the timing fields."""
    keep = ("step", "loss", "lr", "train_loss", "val_loss")
    return [{k: m[k] for k in keep if k in m} for m in read_metrics(run_dir)]


# --- estimate_loss ---------------------------------------------------------------------------

def test_estimate_loss_is_the_mean_over_seeded_batches_and_restores_the_mode():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=11, max_seq_len=8, d_model=16, n_heads=2, n_layers=1, dropout=0.5))
    data = torch.randint(11, (300,), generator=torch.Generator().manual_seed(1))
    model.train()
    got = estimate_loss(model, {"val": data}, batch_size=3, block_size=8, eval_iters=4, seed=7)
    assert model.training
    generator = torch.Generator().manual_seed(7)
    model.eval()
    losses = []
    for _ in range(4):
        x, y = get_batch(data, 3, 8, generator)
        logits, _ = model(x)
        losses.append(F.cross_entropy(logits.reshape(-1, 11), y.reshape(-1)))
    assert got["val"] == pytest.approx(torch.stack(losses).mean().item(), abs=1e-6)
    # the same seed gives the same estimate (no dropout: eval mode)
    assert estimate_loss(model, {"val": data}, 3, 8, 4, seed=7)["val"] == pytest.approx(got["val"], abs=1e-7)


def test_overfit_one_batch():
    torch.manual_seed(0)
    cfg = TrainConfig(n_layers=2, n_heads=2, d_model=32, block_size=16, weight_decay=0.0,
                      learning_rate=1e-2)
    model = GPT(cfg.model_config(vocab_size=20))
    optimizer = configure_optimizer(model, cfg, torch.device("cpu"))
    x = torch.randint(20, (4, 16), generator=torch.Generator().manual_seed(0))
    y = torch.randint(20, (4, 16), generator=torch.Generator().manual_seed(1))
    for _ in range(60):
        _, loss = model(x, y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    assert loss.item() < 0.05  # from ln(20) ≈ 3.0: it memorised the batch


def test_weight_decay_only_on_matrices():
    cfg = TrainConfig(n_layers=1, n_heads=2, d_model=16)
    model = GPT(cfg.model_config(vocab_size=10))
    decay, no_decay = configure_optimizer(model, cfg, torch.device("cpu")).param_groups
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.dim() == 2 for p in decay["params"]) and all(p.dim() == 1 for p in no_decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))


# --- the loop, checkpoints and resume --------------------------------------------------------

def test_train_writes_a_run_folder_and_learns(tmp_path):
    cfg, tok, tr, va = small_run(max_iters=40, eval_interval=20, learning_rate=3e-3)
    result = train(cfg, tr, va, tok, tmp_path)
    assert result.step == 40 and not result.interrupted
    evals = [m for m in read_metrics(tmp_path) if "val_loss" in m]
    assert [m["step"] for m in evals] == [0, 20, 40]
    assert evals[-1]["train_loss"] < evals[0]["train_loss"] - 0.5
    assert (tmp_path / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["step"] == 40 and state["best_val_loss"] == pytest.approx(min(m["val_loss"] for m in evals))
    # the saved weights are the model's: tied lm_head stored once, no wrapper prefixes
    tensors = load_tensors(ckpt.checkpoint_dir(tmp_path) / "model.safetensors")
    assert "lm_head.weight" not in tensors and not any(k.startswith(("_orig_mod.", "module.")) for k in tensors)
    model = GPT(cfg.model_config(tok.vocab_size))
    ckpt.load_weights(model, ckpt.checkpoint_dir(tmp_path) / "model.safetensors")
    assert model.lm_head.weight is model.token_embedding_table.weight
    for name, value in result.model.state_dict().items():
        torch.testing.assert_close(model.state_dict()[name], value, rtol=0, atol=0)


@pytest.mark.parametrize("stop_at", [4, 6])  # at an evaluation step, and between two
@pytest.mark.parametrize("dtype", ["fp32", "bf16"])  # bf16: the fast CPU setting resumes exactly too
def test_resume_is_bit_identical_to_an_uninterrupted_run(tmp_path, stop_at, dtype):
    cfg, tok, tr, va = small_run(dropout=0.1, dtype=dtype)  # dropout: the RNG state must be restored too
    straight = train(cfg, tr, va, tok, tmp_path / "straight")

    def press_ctrl_c(kind, info):
        if kind == "step" and info["step"] == stop_at:
            os.kill(os.getpid(), signal.SIGINT)  # the loop saves and stops after this step

    first = train(cfg, tr, va, tok, tmp_path / "resumed", on_event=press_ctrl_c)
    assert first.interrupted and first.step == stop_at
    assert json.loads((tmp_path / "resumed" / "state.json").read_text())["step"] == stop_at
    second = train(cfg, tr, va, tok, tmp_path / "resumed", resume=True)
    assert second.step == 12 and not second.interrupted
    assert logged(tmp_path / "resumed") == logged(tmp_path / "straight")
    for name, value in straight.model.state_dict().items():
        assert torch.equal(second.model.state_dict()[name], value), name


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    cfg, tok, tr, va = small_run(max_iters=8)
    save = ckpt.save_checkpoint

    def save_then_break_the_weights(run_dir, model, training_state, state):
        save(run_dir, model, training_state, state)
        with torch.no_grad():
            model.ln_f.weight.fill_(float("nan"))  # every later loss is NaN

    monkeypatch.setattr(ckpt, "save_checkpoint", save_then_break_the_weights)
    with pytest.raises(TrainingDiverged, match=r"nan at step 4.*last good checkpoint \(step 4\)"):
        train(cfg, tr, va, tok, tmp_path)
    assert json.loads((tmp_path / "state.json").read_text())["step"] == 4
    assert all(torch.isfinite(t).all() for t in load_tensors(ckpt.checkpoint_dir(tmp_path) / "model.safetensors").values())


# --- DDP -------------------------------------------------------------------------------------

@pytest.mark.slow
def test_ddp_two_cpu_processes_match_one_process_with_the_combined_batch(tmp_path):
    from train_helpers import cli_main

    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    common = ["--corpus", str(corpus), "--n-layers", "2", "--n-heads", "2", "--d-model", "16", "--block-size", "16",
              "--max-iters", "5", "--eval-interval", "5", "--eval-iters", "1", "--sample-tokens", "0",
              "--no-progress", "--out-dir", str(tmp_path),
              "--dtype", "fp32"]  # fp32 sums agree to 1e-6; bf16 autocast rounds each half-batch on its own
    assert cli_main(["train", *common, "--batch-size", "8", "--name", "one"]) == 0
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", ""), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           "-m", "attnlab", "train", *common, "--batch-size", "4", "--name", "two"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("run folder:") == 1  # only rank 0 prints
    one, two = (load_tensors(ckpt.checkpoint_dir(tmp_path / name) / "model.safetensors") for name in ("one", "two"))
    assert one.keys() == two.keys()
    for name in one:
        torch.testing.assert_close(two[name], one[name], rtol=0, atol=1e-6)
    assert not math.isnan(json.loads((tmp_path / "two" / "state.json").read_text())["best_val_loss"])


def test_tensorboard_event_files_when_installed(tmp_path):
    pytest.importorskip("tensorboard")
    cfg, tok, tr, va = small_run(max_iters=2, eval_interval=2)
    train(cfg, tr, va, tok, tmp_path)
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
