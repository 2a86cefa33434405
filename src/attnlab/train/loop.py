"""THE training loop: every model attnlab trains (a GPT, the encoder-decoder, every lab) runs here.

What differs between them is a `Plan`: where batches come from, the loss, the learning rate at
each step, what an evaluation measures and how a checkpoint is saved. The loop itself reads top
to bottom, nanoGPT style:

    while True:
        every eval_interval steps and at the end: evaluate (logged), save a checkpoint
        stop at max_steps, or on Ctrl-C (after saving this step)
        lr = plan.lr(step)                                   e.g. warmup, then cosine decay
        loss = train_step(...)                               one optimiser step:
            for each of grad_accum_steps micro-batches:
                with autocast: loss = loss_fn(model, batch)      bf16/fp16 matmuls if asked
                backward(loss / grad_accum_steps)                gradients add up
            clip the gradient norm, optimizer step, zero the gradients
        stop on a NaN loss (the last good checkpoint stays)
        plan.after_step(step), if given                      e.g. a lab's weight constraint
        report the step

The loop never prints: it reports events ("eval", "step") to `emit(kind, info)` and the CLI
prints them. Ctrl-C asks it to stop at the end of the current step: it saves a checkpoint and
returns, and resuming later (start_step, resumed=True) continues exactly where it stopped.
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from attnlab.device import Peak
from attnlab.distributed import DistInfo, all_reduce_mean, any_rank
from attnlab.errors import UserError
from attnlab.fast.attention import use_for_training
from attnlab.runs import checkpoint as ckpt
from attnlab.runs.metrics import MetricsWriter

EventFn = Callable[[str, dict[str, Any]], None]


class TrainingDiverged(UserError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


def get_lr(step: int, learning_rate: float, min_lr: float, warmup_iters: int, decay_iters: int) -> float:
    """Learning rate at `step`: linear warmup to learning_rate, cosine decay to min_lr at
    decay_iters, then min_lr. min_lr = learning_rate is a constant rate (after any warmup).

    >>> get_lr(0, 1e-3, 1e-4, 100, 2000), get_lr(99, 1e-3, 1e-4, 100, 2000), get_lr(2000, 1e-3, 1e-4, 100, 2000)
    (1e-05, 0.001, 0.0001)
    """
    if step < warmup_iters:
        return learning_rate * (step + 1) / warmup_iters
    if step >= decay_iters:
        return min_lr
    progress = (step - warmup_iters) / (decay_iters - warmup_iters)  # 0 -> 1
    coeff = 0.5 * (1.0 + math.cos(math.pi * progress))  # 1 -> 0
    return min_lr + coeff * (learning_rate - min_lr)


@contextlib.contextmanager
def stop_on_ctrl_c():
    """Yield a list that gets an entry when Ctrl-C is pressed; a second Ctrl-C interrupts at once."""
    pressed: list[bool] = []
    if threading.current_thread() is not threading.main_thread():
        yield pressed
        return

    def handler(signum, frame):
        pressed.append(True)
        signal.signal(signal.SIGINT, previous)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield pressed
    finally:
        signal.signal(signal.SIGINT, previous)


def train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, next_batch: Callable[[], Any],
               loss_fn: Callable[[torch.nn.Module, Any], torch.Tensor], *, lr: float, grad_accum_steps: int = 1,
               grad_clip: float = 0.0, precision: contextlib.AbstractContextManager = contextlib.nullcontext(),
               scaler: torch.amp.GradScaler | None = None, dist: DistInfo = DistInfo()) -> float:
    """One optimiser step -> the loss (mean over the micro-batches, and over ranks under DDP).

    next_batch() -> one micro-batch; loss_fn(model, batch) -> its scalar loss. Gradients add up
    over grad_accum_steps micro-batches (DDP averages them across ranks only on the last one),
    are clipped to grad_clip (0: no clipping), then the optimizer steps. A non-finite loss
    takes no step: TrainingDiverged is raised by the caller (check_finite).
    """
    scaler = scaler or torch.amp.GradScaler(enabled=False)  # a GradScaler is for fp16 only
    for group in optimizer.param_groups:
        group["lr"] = lr
    loss_sum = torch.zeros((), device=next(model.parameters()).device)
    for micro in range(grad_accum_steps):
        last_micro = micro == grad_accum_steps - 1
        no_sync = model.no_sync() if dist.enabled and not last_micro else contextlib.nullcontext()
        with no_sync:
            with precision:  # bf16/fp16 autocast if asked
                loss = loss_fn(model, next_batch()) / grad_accum_steps
            scaler.scale(loss).backward()
        loss_sum += loss.detach().float()
    loss_value = all_reduce_mean(loss_sum).item()
    if not math.isfinite(loss_value):
        optimizer.zero_grad(set_to_none=True)
        return loss_value
    if grad_clip > 0:
        scaler.unscale_(optimizer)  # clip the true gradients, not the fp16-scaled ones
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad(set_to_none=True)
    return loss_value


def check_finite(loss: float, step: int, run_dir: Path | None) -> None:
    """A NaN or infinite loss stops training; the last good checkpoint stays as it is."""
    if math.isfinite(loss):
        return
    kept = (f"the last good checkpoint (step {_saved_step(run_dir)}) is kept in {run_dir}"
            if run_dir is not None and (run_dir / ckpt.STATE).is_file() else "no checkpoint was saved")
    raise TrainingDiverged(f"the loss became {loss} at step {step}; training stopped and {kept} "
                           f"(try a lower learning rate, or fp32)")


def _saved_step(run_dir: Path) -> int | str:
    try:
        return ckpt.read_state(run_dir)["step"]
    except (OSError, ValueError):
        return "?"


@dataclass
class Speed:
    """tokens/s and MFU of each step (a model that reads token batches)."""

    tokens_per_step: int
    flops_per_token: float
    peak: Peak | None  # None: MFU is not reported (e.g. on ranks other than 0)

    def measure(self, info: dict[str, Any]) -> None:
        tokens_per_s = self.tokens_per_step / info["dt"]
        # a step faster than the peak raises it: MFU is never above 100%
        info.update(tokens_per_s=tokens_per_s,
                    mfu=self.peak.mfu(tokens_per_s * self.flops_per_token) if self.peak else None)


@dataclass
class Plan:
    """What one training run does; every lab fills one in and hands it to `train_loop`."""

    next_batch: Callable[[], Any]  # -> one micro-batch
    loss_fn: Callable[[torch.nn.Module, Any], torch.Tensor]  # (model, batch) -> scalar loss
    lr: Callable[[int], float]  # step -> learning rate
    max_steps: int
    eval_interval: int  # evaluate and save every N steps (and at max_steps)
    evaluate: Callable[[int], dict[str, Any]] | None = None  # step -> the fields of a metrics record
    save: Callable[[int], None] | None = None  # step -> write a checkpoint (None: nothing is saved)
    start_step: int = 0
    resumed: bool = False  # start_step came from a checkpoint: it was evaluated before the stop
    grad_accum_steps: int = 1
    grad_clip: float = 0.0
    log_interval: int = 1  # write a step's loss to metrics.jsonl every N steps (0: only evaluations)
    speed: Speed | None = None
    plot: bool = True  # redraw loss.png after evaluations
    after_step: Callable[[int], None] | None = None  # step reached -> e.g. a weight constraint (an SAE's unit rows)


@dataclass
class LoopResult:
    step: int  # the step reached
    interrupted: bool  # stopped by Ctrl-C (after a save)
    last_eval: dict[str, Any] | None  # the last evaluation's fields
    elapsed_s: float


def train_loop(model: torch.nn.Module, optimizer: torch.optim.Optimizer, plan: Plan, metrics: MetricsWriter, *,
               precision: contextlib.AbstractContextManager = contextlib.nullcontext(),
               scaler: torch.amp.GradScaler | None = None, dist: DistInfo = DistInfo(),
               run_dir: Path | None = None, emit: EventFn | None = None) -> LoopResult:
    """Train `model` by `plan` (see the module docstring); metrics go to `metrics`, events to emit."""
    emit = emit or (lambda kind, info: None)
    device = next(model.parameters()).device
    step, interrupted, last_eval, started = plan.start_step, False, None, time.perf_counter()
    model.train()
    use_for_training(model)  # attnlab.fast's attention kernel for CPU autocast (the same numbers, faster)
    with stop_on_ctrl_c() as ctrl_c:
        while True:
            if step == plan.max_steps or step % plan.eval_interval == 0:  # evaluate, then checkpoint
                if not (plan.resumed and step == plan.start_step):  # a resumed run has evaluated this step
                    if plan.evaluate is not None:
                        last_eval = plan.evaluate(step)
                        metrics.write({"step": step, **last_eval}, plot=plan.plot)
                        emit("eval", {"step": step, **last_eval})
                    if step > 0 and plan.save is not None:
                        plan.save(step)
            if step >= plan.max_steps:
                break
            if any_rank(bool(ctrl_c), device):
                if plan.save is not None:
                    plan.save(step)  # Ctrl-C: keep this step, stop
                interrupted = True
                break
            lr = plan.lr(step)
            t0 = time.perf_counter()
            loss = train_step(model, optimizer, plan.next_batch, plan.loss_fn, lr=lr,
                              grad_accum_steps=plan.grad_accum_steps, grad_clip=plan.grad_clip,
                              precision=precision, scaler=scaler, dist=dist)
            check_finite(loss, step, run_dir if dist.is_main else None)
            step += 1
            if plan.after_step is not None:
                plan.after_step(step)
            info = {"step": step, "loss": loss, "lr": lr, "dt": time.perf_counter() - t0}
            if plan.speed is not None:
                plan.speed.measure(info)
            if plan.log_interval and step % plan.log_interval == 0:
                metrics.write(info)
            emit("step", info)
    metrics.close()
    return LoopResult(step, interrupted, last_eval, time.perf_counter() - started)
