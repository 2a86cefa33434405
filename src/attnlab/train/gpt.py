"""One explicit training loop, nanoGPT style: `train` for a GPT, `train_step` for any model.

The loop, in `train`, reads top to bottom:

    while True:
        every eval_interval steps and at the end: estimate the losses, save a checkpoint
        stop at max_iters, or on Ctrl-C (after saving this step)
        lr = get_lr(step, ...)                             warmup, then cosine decay
        loss = train_step(...)                             one optimiser step:
            for each of grad_accum_steps micro-batches:
                with autocast: loss = loss_fn(model, batch)    bf16/fp16 matmuls if asked
                backward(loss / grad_accum_steps)              gradients add up
            clip the gradient norm, optimizer step, zero the gradients
        stop on a NaN loss (the last good checkpoint stays); report the step

`attnlab.labs.seq2seq.train.train_seq2seq` runs the same `train_step` for an encoder-decoder. The
loop never prints; the CLI prints. Ctrl-C asks it to stop at the end of the current step: it
saves a checkpoint and returns, and resuming later continues exactly where it stopped.
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

from attnlab.runs import checkpoint as ckpt
from attnlab.config import TrainConfig
from attnlab.train.data import get_batch, train_val_split
from attnlab.device import autocast, flops_per_token, peak_flops, pick_device
from attnlab.distributed import DistInfo, all_reduce_mean, any_rank
from attnlab.runs.metrics import MetricsWriter, truncate_metrics
from attnlab.model.gpt import GPT

EventFn = Callable[[str, dict[str, Any]], None]


class TrainingDiverged(ValueError):
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


@torch.no_grad()
def estimate_loss(model: torch.nn.Module, splits: dict[str, torch.Tensor], batch_size: int, block_size: int,
                  eval_iters: int, device: str | torch.device = "cpu", seed: int = 0, dtype: str = "fp32",
                  rank: int = 0, world_size: int = 1) -> dict[str, float]:
    """Mean loss over `eval_iters` random batches of each split, in eval mode (no dropout).

    The batches come from a generator seeded with `seed`, so every call sees the same ones
    (estimates over time are comparable) and the training batches are not disturbed.
    """
    device = torch.device(device)
    was_training = model.training
    model.eval()
    losses = {}
    for name, data in splits.items():
        generator = torch.Generator().manual_seed(seed)
        total = torch.zeros((), device=device)
        for _ in range(eval_iters):
            x, y = get_batch(data, batch_size, block_size, generator, device, rank, world_size)  # (B, T)
            with autocast(device, dtype):
                _, loss = model(x, y)
            total += loss.float()
        losses[name] = (total / eval_iters).item()
    model.train(was_training)
    return losses


def encode_corpus(text: str, tokenizer, cfg: TrainConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids of the corpus, split into train and val; each must hold block_size + 1 tokens."""
    ids = torch.tensor(tokenizer.encode(text), dtype=torch.long)  # (N,)
    train_data, val_data = train_val_split(ids, cfg.val_fraction)
    for name, data in (("training", train_data), ("validation", val_data)):
        if len(data) < cfg.block_size + 1:
            raise ValueError(f"the corpus is too short: its {name} split has {len(data)} tokens, fewer than "
                             f"block_size + 1 = {cfg.block_size + 1} (use more text or a smaller --block-size)")
    return train_data, val_data


def configure_optimizer(model: GPT, cfg: TrainConfig, device: torch.device) -> torch.optim.AdamW:
    """AdamW with weight decay on the 2-D weights (matmuls, embeddings) only: biases and
    LayerNorm gains are not pulled towards zero. The fused kernel (one pass over all the
    parameters instead of a loop of small ops) on CUDA and CPU."""
    params = [p for p in model.parameters() if p.requires_grad]  # a tied weight appears once
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg.weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.learning_rate, betas=(cfg.beta1, cfg.beta2),
                             fused=True if device.type in ("cuda", "cpu") else None)


@dataclass
class TrainResult:
    model: GPT  # the trained model (unwrapped), in eval mode
    step: int
    best_val_loss: float | None
    last_losses: dict[str, float] | None  # the last train/val estimate
    interrupted: bool  # stopped by Ctrl-C (a checkpoint was saved)
    elapsed_s: float


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


@dataclass
class GPTRun:
    """What a GPT training run holds while it trains (see `setup_gpt_run`)."""

    cfg: TrainConfig
    run_dir: Path
    dist: DistInfo
    device: torch.device
    precision: contextlib.AbstractContextManager  # autocast for bf16/fp16
    raw_model: GPT  # the model itself: checkpoints come from here
    model: torch.nn.Module  # what trains: raw_model, maybe compiled, maybe DDP-wrapped
    eval_model: torch.nn.Module  # compiled but not DDP-wrapped
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    batch_generator: torch.Generator
    step: int = 0
    best_val: float | None = None
    last_losses: dict[str, float] | None = None


def setup_gpt_run(cfg: TrainConfig, vocab_size: int, run_dir: Path, resume: bool, dist: DistInfo) -> GPTRun:
    """Model, optimizer and RNGs, from the seed or (resume) from run_dir's checkpoint."""
    device = pick_device(cfg.device)
    if device.type == "cuda" and dist.enabled:
        device = torch.device("cuda", dist.local_rank)
    precision = autocast(device, cfg.dtype)  # also checks that the dtype suits the device
    torch.manual_seed(cfg.seed)  # the same initial weights on every rank
    raw_model = GPT(cfg.model_config(vocab_size)).to(device)
    optimizer = configure_optimizer(raw_model, cfg, device)
    scaler = torch.amp.GradScaler(device.type, enabled=cfg.dtype == "fp16")
    batch_generator = torch.Generator().manual_seed(cfg.seed)  # the same on every rank: see get_batch
    torch.manual_seed(cfg.seed + dist.rank)  # dropout masks differ between ranks
    step, best_val = 0, None
    if resume:
        state, saved = ckpt.load_checkpoint(run_dir)
        ckpt.load_weights(raw_model, ckpt.checkpoint_dir(run_dir) / ckpt.WEIGHTS, device)
        ckpt.restore_training_state(saved, optimizer, device, scaler, batch_generator)
        step, best_val = state["step"], state.get("best_val_loss")
        if dist.is_main:
            truncate_metrics(run_dir, step)
    # torch.compile wraps the model and DDP wraps that; checkpoints come from raw_model, so
    # no "_orig_mod." or "module." prefixes reach the files.
    model = eval_model = torch.compile(raw_model) if cfg.compile else raw_model
    if dist.enabled:
        from torch.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(model, device_ids=[dist.local_rank] if device.type == "cuda" else None)
    return GPTRun(cfg, run_dir, dist, device, precision, raw_model, model, eval_model, optimizer, scaler,
                  batch_generator, step, best_val)


def evaluate(run: GPTRun, splits: dict[str, torch.Tensor], metrics: MetricsWriter) -> dict[str, float]:
    """Train and val loss estimates (averaged over ranks), logged to metrics.jsonl."""
    cfg = run.cfg
    local = estimate_loss(run.eval_model, splits, cfg.batch_size, cfg.block_size, cfg.eval_iters, run.device,
                          cfg.seed + 1, cfg.dtype, run.dist.rank, run.dist.world_size)
    run.last_losses = {k: all_reduce_mean(torch.tensor(v, device=run.device)).item() for k, v in local.items()}
    val = run.last_losses["val"]
    run.best_val = val if run.best_val is None else min(run.best_val, val)
    metrics.write({"step": run.step, "train_loss": run.last_losses["train"], "val_loss": val}, plot=True)
    return run.last_losses


def save(run: GPTRun) -> None:
    """A checkpoint of run.step (rank 0 writes it)."""
    if run.dist.is_main:
        tokens = run.cfg.batch_size * run.cfg.block_size * run.cfg.grad_accum_steps * run.dist.world_size
        ckpt.save_checkpoint(run.run_dir, run.raw_model, ckpt.training_state(
            run.optimizer, run.device, run.scaler, run.batch_generator), {
            "step": run.step, "best_val_loss": run.best_val, "last_losses": run.last_losses,
            "tokens_seen": run.step * tokens})


def train(cfg: TrainConfig, train_data: torch.Tensor, val_data: torch.Tensor, tokenizer, run_dir: str | Path,
          resume: bool = False, dist: DistInfo = DistInfo(), on_event: EventFn | None = None) -> TrainResult:
    """Train a GPT on token ids; write checkpoints and metrics into run_dir (rank 0 only).

    With resume=True the weights, optimizer, step and RNG states come from run_dir's
    checkpoint, and the losses continue exactly as if the run had never stopped (bit for bit
    on a CPU in fp32; under DDP only rank 0's dropout RNG state is saved).
    """
    run_dir = Path(run_dir)
    if dist.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
    emit = on_event if (on_event is not None and dist.is_main) else (lambda kind, info: None)
    run = setup_gpt_run(cfg, tokenizer.vocab_size, run_dir, resume, dist)
    speed = Speedometer(run, emit)
    metrics = MetricsWriter(run_dir, enabled=dist.is_main)
    splits = {"train": train_data, "val": val_data}
    decay_iters = cfg.max_iters if cfg.lr_decay_iters is None else cfg.lr_decay_iters
    start_step, interrupted, started = run.step, False, time.perf_counter()
    run.model.train()
    with stop_on_ctrl_c() as ctrl_c:
        while True:
            if run.step == cfg.max_iters or run.step % cfg.eval_interval == 0:  # evaluate, then checkpoint
                if not (resume and run.step == start_step):  # a resumed run has evaluated this step
                    emit("eval", {"step": run.step, **evaluate(run, splits, metrics)})
                    if run.step > 0:
                        save(run)
            if run.step >= cfg.max_iters:
                break
            if any_rank(bool(ctrl_c), run.device):
                save(run)  # Ctrl-C: keep this step, stop
                interrupted = True
                break
            lr = get_lr(run.step, cfg.learning_rate, cfg.min_lr, cfg.warmup_iters, decay_iters)
            t0 = time.perf_counter()
            loss = train_step(run.model, run.optimizer, lambda: get_batch(
                train_data, cfg.batch_size, cfg.block_size, run.batch_generator, run.device, dist.rank,
                dist.world_size), next_token_loss, lr=lr, grad_accum_steps=cfg.grad_accum_steps,
                grad_clip=cfg.grad_clip, precision=run.precision, scaler=run.scaler, dist=dist)
            check_finite(loss, run.step, run_dir if dist.is_main else None)
            run.step += 1
            speed.report({"step": run.step, "loss": loss, "lr": lr, "dt": time.perf_counter() - t0}, metrics)
    metrics.close()
    run.raw_model.eval()
    return TrainResult(run.raw_model, run.step, run.best_val, run.last_losses, interrupted,
                       time.perf_counter() - started)


def next_token_loss(model: torch.nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    x, y = batch  # (B, T), (B, T): y is x shifted by one
    _, loss = model(x, y)
    return loss


class Speedometer:
    """tokens/s and MFU of each step, for metrics.jsonl and the progress bar."""

    def __init__(self, run: GPTRun, emit: EventFn):
        cfg, mc = run.cfg, run.raw_model.config
        self.emit, self.log_interval = emit, cfg.log_interval
        self.tokens_per_step = cfg.batch_size * cfg.block_size * cfg.grad_accum_steps * run.dist.world_size
        self.token_flops = flops_per_token(run.raw_model.num_parameters(non_embedding=True),  # a bigram: no blocks
                                           len(run.raw_model.blocks), mc.n_heads, mc.d_head, mc.max_seq_len)
        self.peak = peak_flops(run.device, cfg.dtype) if run.dist.is_main else None  # only rank 0 reports
        emit("start", {"step": run.step, "max_iters": cfg.max_iters, "device": str(run.device),
                       "dtype": cfg.dtype, "parameters": run.raw_model.num_parameters(),
                       "tokens_per_step": self.tokens_per_step, "world_size": run.dist.world_size,
                       "peak_flops": self.peak.flops if self.peak else 0.0,
                       "peak_source": self.peak.source if self.peak else ""})

    def report(self, info: dict[str, Any], metrics: MetricsWriter) -> None:
        tokens_per_s = self.tokens_per_step / info["dt"]
        # a step faster than the peak raises it: MFU is never above 100%
        info.update(tokens_per_s=tokens_per_s,
                    mfu=self.peak.mfu(tokens_per_s * self.token_flops) if self.peak else None)
        if info["step"] % self.log_interval == 0:
            metrics.write(info)
        self.emit("step", info)


def _saved_step(run_dir: Path) -> int | str:
    try:
        return ckpt.read_state(run_dir)["step"]
    except (OSError, ValueError):
        return "?"
