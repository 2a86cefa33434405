"""One explicit training loop for a GPT, nanoGPT style: everything it does is visible below.

    for each step:
        lr = get_lr(step)                                  warmup, then cosine decay
        every eval_interval steps: estimate_loss, save a checkpoint
        for each of grad_accum_steps micro-batches:
            x, y = get_batch(...)                          this process's rows (DDP: strided by rank)
            with autocast: loss = model(x, y)              bf16/fp16 matmuls if asked
            backward(loss / grad_accum_steps)              gradients add up over micro-batches
        clip the gradient norm, AdamW step, zero the gradients

The loop reports progress through `on_event(kind, info)` and never prints; the CLI prints.
Ctrl-C asks it to stop at the end of the current step: it saves a checkpoint and returns,
and `resume=True` later continues exactly where it stopped.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import math
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from attnlab import checkpoint as ckpt
from attnlab.config import TrainConfig
from attnlab.data import get_batch, train_val_split
from attnlab.device import autocast, flops_per_token, mfu, peak_flops, pick_device
from attnlab.distributed import DistInfo, all_reduce_mean, any_rank
from attnlab.model.gpt import GPT

EventFn = Callable[[str, dict[str, Any]], None]


class TrainingDiverged(ValueError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


def get_lr(step: int, cfg: TrainConfig) -> float:
    """Learning rate at `step`: linear warmup to learning_rate, cosine decay to min_lr at
    lr_decay_iters (default max_iters), then min_lr.

    >>> cfg = TrainConfig(learning_rate=1e-3, min_lr=1e-4, warmup_iters=100, max_iters=2000)
    >>> get_lr(0, cfg), get_lr(99, cfg), get_lr(1050, cfg), get_lr(2000, cfg)
    (1e-05, 0.001, 0.00055, 0.0001)
    """
    decay_iters = cfg.max_iters if cfg.lr_decay_iters is None else cfg.lr_decay_iters
    if step < cfg.warmup_iters:
        return cfg.learning_rate * (step + 1) / cfg.warmup_iters
    if step >= decay_iters:
        return cfg.min_lr
    progress = (step - cfg.warmup_iters) / (decay_iters - cfg.warmup_iters)  # 0 -> 1
    coeff = 0.5 * (1.0 + math.cos(math.pi * progress))  # 1 -> 0
    return cfg.min_lr + coeff * (cfg.learning_rate - cfg.min_lr)


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
    device = pick_device(cfg.device)
    if device.type == "cuda" and dist.enabled:
        device = torch.device("cuda", dist.local_rank)
    ctx = autocast(device, cfg.dtype)  # also checks that the dtype suits the device

    torch.manual_seed(cfg.seed)  # the same initial weights on every rank
    raw_model = GPT(cfg.model_config(tokenizer.vocab_size)).to(device)
    optimizer = configure_optimizer(raw_model, cfg, device)
    scaler = torch.amp.GradScaler(device.type, enabled=cfg.dtype == "fp16")
    batch_generator = torch.Generator().manual_seed(cfg.seed)  # the same on every rank: see get_batch
    torch.manual_seed(cfg.seed + dist.rank)  # dropout masks differ between ranks
    step, best_val = 0, None
    if resume:
        state, saved = ckpt.load_checkpoint(run_dir)
        ckpt.load_weights(raw_model, run_dir / ckpt.WEIGHTS, device)
        optimizer.load_state_dict(saved["optimizer"])
        scaler.load_state_dict(saved["grad_scaler"])
        batch_generator.set_state(saved["batch_generator"])
        torch.set_rng_state(saved["cpu_rng"])
        if device.type == "cuda" and saved.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(saved["cuda_rng"], device)
        step, best_val = state["step"], state.get("best_val_loss")
        if dist.is_main:
            ckpt.truncate_metrics(run_dir, step)
    start_step = step

    # torch.compile wraps the model and DDP wraps that; checkpoints come from raw_model, so
    # no "_orig_mod." or "module." prefixes reach the files.
    model = torch.compile(raw_model) if cfg.compile else raw_model
    eval_model = model
    if dist.enabled:
        from torch.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(model, device_ids=[dist.local_rank] if device.type == "cuda" else None)

    def save(last_losses: dict[str, float] | None) -> None:
        if not dist.is_main:
            return
        training_state = {
            "optimizer": optimizer.state_dict(), "grad_scaler": scaler.state_dict(),
            "batch_generator": batch_generator.get_state(), "cpu_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
        }
        ckpt.save_checkpoint(run_dir, raw_model, training_state, {
            "step": step, "best_val_loss": best_val, "last_losses": last_losses,
            "tokens_seen": step * tokens_per_step})
        emit("checkpoint", {"step": step, "path": str(run_dir)})

    tokens_per_step = cfg.batch_size * cfg.block_size * cfg.grad_accum_steps * dist.world_size
    mc = raw_model.config
    token_flops = flops_per_token(raw_model.num_parameters(non_embedding=True), mc.n_layers, mc.n_heads,
                                  mc.d_head, mc.max_seq_len)
    peak, peak_source = peak_flops(device, cfg.dtype) if dist.is_main else (0.0, "")
    metrics = _MetricsWriter(run_dir, enabled=dist.is_main)
    emit("start", {"step": step, "max_iters": cfg.max_iters, "device": str(device), "dtype": cfg.dtype,
                   "parameters": raw_model.num_parameters(), "tokens_per_step": tokens_per_step,
                   "world_size": dist.world_size, "peak_flops": peak, "peak_source": peak_source})

    last_losses, interrupted, started = None, False, time.perf_counter()
    raw_model.train()
    with stop_on_ctrl_c() as ctrl_c:
        while True:
            # evaluate and checkpoint (not again at the step a resumed run starts from)
            if (step % cfg.eval_interval == 0 or step == cfg.max_iters) and not (resume and step == start_step):
                local = estimate_loss(eval_model, {"train": train_data, "val": val_data}, cfg.batch_size,
                                      cfg.block_size, cfg.eval_iters, device, cfg.seed + 1, cfg.dtype,
                                      dist.rank, dist.world_size)
                last_losses = {k: all_reduce_mean(torch.tensor(v, device=device)).item() for k, v in local.items()}
                best_val = last_losses["val"] if best_val is None else min(best_val, last_losses["val"])
                metrics.write({"step": step, "train_loss": last_losses["train"], "val_loss": last_losses["val"]},
                              plot=True)
                emit("eval", {"step": step, **last_losses})
                if step > 0:
                    save(last_losses)
            if step >= cfg.max_iters:
                break
            if any_rank(bool(ctrl_c), device):
                save(last_losses)
                interrupted = True
                break

            lr = get_lr(step, cfg)
            for group in optimizer.param_groups:
                group["lr"] = lr
            t0 = time.perf_counter()
            loss_sum = torch.zeros((), device=device)
            for micro in range(cfg.grad_accum_steps):
                x, y = get_batch(train_data, cfg.batch_size, cfg.block_size, batch_generator, device,
                                 dist.rank, dist.world_size)  # (B, T), (B, T)
                # DDP averages gradients across ranks only on the last micro-batch
                last_micro = micro == cfg.grad_accum_steps - 1
                no_sync = model.no_sync() if dist.enabled and not last_micro else contextlib.nullcontext()
                with no_sync:
                    with ctx:
                        _, loss = model(x, y)
                        loss = loss / cfg.grad_accum_steps
                    scaler.scale(loss).backward()
                loss_sum += loss.detach().float()
            loss_value = all_reduce_mean(loss_sum).item()
            if not math.isfinite(loss_value):
                optimizer.zero_grad(set_to_none=True)
                kept = (f"the last good checkpoint (step {_saved_step(run_dir)}) is kept in {run_dir}"
                        if (run_dir / ckpt.STATE).is_file() else "no checkpoint was saved yet")
                raise TrainingDiverged(f"the loss became {loss_value} at step {step}; training stopped and "
                                       f"{kept} (try a lower --learning-rate or --dtype fp32)")
            if cfg.grad_clip > 0:
                scaler.unscale_(optimizer)  # clip the true gradients, not the fp16-scaled ones
                torch.nn.utils.clip_grad_norm_(raw_model.parameters(), cfg.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            step += 1

            dt = time.perf_counter() - t0
            tokens_per_s = tokens_per_step / dt
            info = {"step": step, "loss": loss_value, "lr": lr, "tokens_per_s": tokens_per_s,
                    "mfu": mfu(tokens_per_s, token_flops, peak) if peak else None}
            if step % cfg.log_interval == 0:
                metrics.write(info)
            emit("step", info)
    metrics.close()
    raw_model.eval()
    return TrainResult(raw_model, step, best_val, last_losses, interrupted, time.perf_counter() - started)


def _saved_step(run_dir: Path) -> int | str:
    try:
        return json.loads((run_dir / ckpt.STATE).read_text())["step"]
    except (OSError, ValueError, KeyError):
        return "?"


class _MetricsWriter:
    """metrics.jsonl (+ loss.png redrawn at each evaluation, + TensorBoard if installed)."""

    def __init__(self, run_dir: Path, enabled: bool):
        self.run_dir, self.enabled, self.tensorboard = run_dir, enabled, None
        if enabled and importlib.util.find_spec("tensorboard") is not None:
            from torch.utils.tensorboard import SummaryWriter

            self.tensorboard = SummaryWriter(log_dir=str(run_dir / "tensorboard"))

    def write(self, record: dict[str, Any], plot: bool = False) -> None:
        if not self.enabled:
            return
        with open(self.run_dir / ckpt.METRICS, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        if self.tensorboard is not None:
            for key, value in record.items():
                if key != "step" and value is not None:
                    self.tensorboard.add_scalar(key, value, record["step"])
        if plot:
            ckpt.plot_losses(self.run_dir)

    def close(self) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()
