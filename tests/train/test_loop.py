"""train/loop.py: the learning-rate schedule, one optimiser step (accumulation, clipping, a NaN
takes no step), the NaN stop's message, Ctrl-C, and the loop's order of evaluations, saves and
logged steps, on a one-weight model whose every number is known."""

from __future__ import annotations

import json
import os
import signal

import pytest
import torch

from attnlab.runs.metrics import MetricsWriter, read_metrics
from attnlab.train.loop import Plan, Speed, TrainingDiverged, check_finite, get_lr, stop_on_ctrl_c, train_loop, train_step

from train_helpers import one_thread  # noqa: F401 (an autouse fixture)


# --- get_lr ----------------------------------------------------------------------------------

def test_get_lr_warmup_cosine_and_floor():
    def lr(step: int) -> float:
        return get_lr(step, learning_rate=1e-3, min_lr=1e-4, warmup_iters=100, decay_iters=2000)

    assert lr(0) == pytest.approx(1e-5)
    assert lr(49) == pytest.approx(5e-4)
    assert lr(99) == pytest.approx(1e-3)
    assert lr(100) == pytest.approx(1e-3)  # the top of the cosine
    assert lr(1050) == pytest.approx(5.5e-4)  # halfway: (max + min) / 2
    assert lr(2000) == pytest.approx(1e-4)
    assert lr(5000) == pytest.approx(1e-4)
    decay = [lr(s) for s in range(100, 2001)]
    assert all(a >= b for a, b in zip(decay, decay[1:]))  # never increases after warmup


def test_get_lr_decays_over_decay_iters_without_warmup():
    assert get_lr(0, 1.0, 0.0, warmup_iters=0, decay_iters=10) == pytest.approx(1.0)
    assert get_lr(5, 1.0, 0.0, warmup_iters=0, decay_iters=10) == pytest.approx(0.5)
    assert get_lr(10, 1.0, 0.0, 0, 10) == 0.0 and get_lr(50, 1.0, 0.0, 0, 10) == 0.0


# --- train_step ------------------------------------------------------------------------------

def squared_error(model: torch.nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    x, y = batch
    return ((model(x) - y) ** 2).mean()


def line(weight: float = 0.0) -> torch.nn.Linear:
    """y = w x: one weight, no bias."""
    model = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(weight)
    return model


def test_two_micro_batches_are_one_step_on_the_whole_batch():
    x = torch.tensor([[1.0], [2.0], [3.0], [4.0]])
    y = 2 * x
    whole, halves = line(), line()
    halves_iter = iter([(x[:2], y[:2]), (x[2:], y[2:])])
    loss_whole = train_step(whole, torch.optim.SGD(whole.parameters()), lambda: (x, y), squared_error, lr=0.01)
    loss_halves = train_step(halves, torch.optim.SGD(halves.parameters()), lambda: next(halves_iter), squared_error,
                             lr=0.01, grad_accum_steps=2)
    # w = 0: the loss is mean(4 x²) = 30, its gradient -4 mean(x²) = -30; one SGD step of 0.01: w = 0.3
    assert loss_whole == pytest.approx(30.0) and loss_halves == pytest.approx(30.0)
    assert whole.weight.item() == pytest.approx(0.3) and halves.weight.item() == pytest.approx(0.3)
    assert whole.weight.grad is None and halves.weight.grad is None  # zeroed for the next step


def test_the_gradient_is_clipped_to_its_norm():
    x, y = torch.tensor([[1.0]]), torch.tensor([[10.0]])
    model = line()
    train_step(model, torch.optim.SGD(model.parameters()), lambda: (x, y), squared_error, lr=1.0, grad_clip=0.5)
    assert model.weight.item() == pytest.approx(0.5)  # the gradient -20, clipped to norm 0.5: one step of 0.5
    unclipped = line()
    train_step(unclipped, torch.optim.SGD(unclipped.parameters()), lambda: (x, y), squared_error, lr=1.0)
    assert unclipped.weight.item() == pytest.approx(20.0)


def test_a_non_finite_loss_takes_no_step():
    model = line(1.0)
    optimizer = torch.optim.SGD(model.parameters())
    loss = train_step(model, optimizer, lambda: (torch.tensor([[1.0]]), torch.tensor([[float("nan")]])),
                      squared_error, lr=1.0)
    assert loss != loss  # NaN
    assert model.weight.item() == 1.0 and model.weight.grad is None


# --- check_finite ----------------------------------------------------------------------------

def test_a_finite_loss_passes_and_a_nan_names_the_step_and_what_is_kept(tmp_path):
    check_finite(2.5, 7, tmp_path)  # nothing raised
    with pytest.raises(TrainingDiverged, match=r"the loss became nan at step 7; .*no checkpoint was saved"):
        check_finite(float("nan"), 7, tmp_path)  # no state.json yet
    (tmp_path / "state.json").write_text(json.dumps({"step": 4, "checkpoint": "checkpoint-000004"}))
    with pytest.raises(TrainingDiverged, match=r"inf at step 9; .*last good checkpoint \(step 4\) is kept in"):
        check_finite(float("inf"), 9, tmp_path)
    with pytest.raises(TrainingDiverged, match="no checkpoint was saved"):
        check_finite(float("nan"), 9, None)  # DDP ranks other than 0 name no folder


# --- stop_on_ctrl_c --------------------------------------------------------------------------

def test_ctrl_c_is_recorded_once_then_a_second_one_interrupts_and_the_handler_is_put_back():
    before = signal.getsignal(signal.SIGINT)
    with stop_on_ctrl_c() as pressed:
        assert pressed == []
        os.kill(os.getpid(), signal.SIGINT)
        assert pressed == [True]
        with pytest.raises(KeyboardInterrupt):  # the handler put the previous one back
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before


# --- train_loop ------------------------------------------------------------------------------

def plan_for(model: torch.nn.Module, log: list, **fields) -> Plan:
    """A plan on y = 2x whose evaluations report the weight, and whose saves and steps are logged."""
    x = torch.tensor([[1.0], [2.0]])
    return Plan(next_batch=lambda: (x, 2 * x), loss_fn=squared_error, lr=lambda step: 0.1,
                evaluate=lambda step: {"w": model.weight.item()}, save=lambda step: log.append(("save", step)),
                after_step=lambda step: log.append(("after", step)), **fields)


def test_the_loop_evaluates_saves_and_logs_on_its_schedule(tmp_path):
    model, log, events = line(), [], []
    plan = plan_for(model, log, max_steps=5, eval_interval=2, log_interval=2, plot=False)
    result = train_loop(model, torch.optim.SGD(model.parameters()), plan, MetricsWriter(tmp_path, True),
                        emit=lambda kind, info: events.append((kind, info["step"])))
    assert (result.step, result.interrupted) == (5, False)
    assert [e for e in events if e[0] == "eval"] == [("eval", 0), ("eval", 2), ("eval", 4), ("eval", 5)]
    assert [e for e in events if e[0] == "step"] == [("step", s) for s in range(1, 6)]
    assert [s for kind, s in log if kind == "save"] == [2, 4, 5]  # never step 0
    assert [s for kind, s in log if kind == "after"] == [1, 2, 3, 4, 5]
    records = read_metrics(tmp_path)
    assert [(r["step"], "w" in r) for r in records] == [(0, True), (2, False), (2, True), (4, False), (4, True),
                                                        (5, True)]
    # w <- w + 0.1 * 2 * mean(x² (2 - w)) = w + 0.5 (2 - w): 1, 1.5, 1.75, ...
    assert [r["w"] for r in records if "w" in r] == pytest.approx([0.0, 1.5, 1.875, 1.9375])
    assert result.last_eval["w"] == pytest.approx(1.9375)
    assert all(r["lr"] == 0.1 for r in records if "loss" in r)


def test_a_resumed_loop_does_not_evaluate_or_save_its_first_step_again(tmp_path):
    model, log, evals = line(), [], []
    plan = plan_for(model, log, max_steps=6, eval_interval=2, start_step=4, resumed=True, plot=False)
    result = train_loop(model, torch.optim.SGD(model.parameters()), plan, MetricsWriter(None, False),
                        emit=lambda kind, info: evals.append(info["step"]) if kind == "eval" else None)
    assert result.step == 6 and evals == [6]
    assert [s for kind, s in log if kind == "save"] == [6]
    assert [s for kind, s in log if kind == "after"] == [5, 6]


def test_ctrl_c_during_the_loop_saves_that_step_and_stops(tmp_path):
    model, log = line(), []

    def press_at_step_3(step):
        log.append(("after", step))
        if step == 3:
            os.kill(os.getpid(), signal.SIGINT)

    plan = plan_for(model, log, max_steps=10, eval_interval=100, plot=False)
    plan.after_step = press_at_step_3
    result = train_loop(model, torch.optim.SGD(model.parameters()), plan, MetricsWriter(None, False))
    assert (result.step, result.interrupted) == (3, True)
    assert [s for kind, s in log if kind == "save"] == [3]


def test_a_nan_in_the_loop_is_training_diverged(tmp_path):
    model = line()
    x = torch.tensor([[1.0]])
    plan = Plan(next_batch=lambda: (x, x * float("nan")), loss_fn=squared_error, lr=lambda step: 0.1,
                max_steps=3, eval_interval=10)
    with pytest.raises(TrainingDiverged, match="at step 0"):
        train_loop(model, torch.optim.SGD(model.parameters()), plan, MetricsWriter(None, False), run_dir=tmp_path)


def test_speed_reports_tokens_per_second_and_no_mfu_without_a_peak():
    info = {"dt": 0.5}
    Speed(tokens_per_step=64, flops_per_token=1e6, peak=None).measure(info)
    assert info == {"dt": 0.5, "tokens_per_s": 128.0, "mfu": None}
