"""One explicit training loop, nanoGPT style, shared by the GPT and the encoder-decoder.

`train_loop` is the loop; everything it does is visible there:

    for each step:
        every eval_interval steps: evaluate (a hook), save a checkpoint (a hook)
        lr = lr_at(step)                                   warmup, then cosine decay (get_lr)
        for each of grad_accum_steps micro-batches:
            batch = get_batch(step)                        the task hook: a GPT's (x, y), a seq2seq batch
            with autocast: loss = loss_fn(model, batch)    bf16/fp16 matmuls if asked
            backward(loss / grad_accum_steps)              gradients add up over micro-batches
        clip the gradient norm, optimizer step, zero the gradients, report (a hook)

`train` sets it up for a GPT (device, DDP, resume, loss estimates, metrics);
`attnlab.seq2seq_train.train_seq2seq` sets it up for an encoder-decoder. The loop never
prints; the CLI prints. Ctrl-C asks it to stop at the end of the current step: it saves a
checkpoint and returns, and resuming later continues exactly where it stopped.
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

from attnlab import checkpoint as ckpt
from attnlab.config import TrainConfig
from attnlab.data import get_batch, train_val_split
from attnlab.device import autocast, flops_per_token, mfu, peak_flops, pick_device
from attnlab.distributed import DistInfo, all_reduce_mean, any_rank
from attnlab.metrics import MetricsWriter, truncate_metrics
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


def train_loop(model: torch.nn.Module, optimizer: torch.optim.Optimizer, get_batch: Callable[[int], Any],
               loss_fn: Callable[[torch.nn.Module, Any], torch.Tensor], lr_at: Callable[[int], float],
               start_step: int, max_iters: int, grad_accum_steps: int = 1, grad_clip: float = 0.0,
               precision: contextlib.AbstractContextManager = contextlib.nullcontext(),
               scaler: torch.amp.GradScaler | None = None, dist: DistInfo = DistInfo(), eval_interval: int = 0,
               evaluate_first: bool = True, evaluate: Callable[[int], None] | None = None,
               save: Callable[[int], None] | None = None, on_step: Callable[[dict[str, Any]], None] | None = None,
               run_dir: Path | None = None) -> tuple[int, bool]:
    """Train from start_step to max_iters -> (the step reached, whether Ctrl-C stopped it).

    The task hooks: get_batch(step) -> one micro-batch; loss_fn(model, batch) -> the scalar loss.
    Every eval_interval steps and at max_iters (0: only at max_iters): evaluate(step), then
    save(step) (not at step 0; evaluate_first=False skips start_step, which a resumed run has
    already evaluated). on_step({"step", "loss", "lr", "dt"}) after every step. `model` may be
    compiled or DDP-wrapped; its gradients are averaged across ranks on the last micro-batch.
    """
    if scaler is None:  # a GradScaler is for fp16 only (it scales the loss against underflow)
        scaler = torch.amp.GradScaler(enabled=False)
    device = next(model.parameters()).device
    step, interrupted = start_step, False
    model.train()
    with stop_on_ctrl_c() as ctrl_c:
        while True:
            # evaluate and checkpoint
            at_eval = step == max_iters or (eval_interval > 0 and step % eval_interval == 0)
            if at_eval and (evaluate_first or step != start_step):
                if evaluate is not None:
                    evaluate(step)
                if save is not None and step > 0:
                    save(step)
            if step >= max_iters:
                break
            if any_rank(bool(ctrl_c), device):
                if save is not None:
                    save(step)
                interrupted = True
                break

            lr = lr_at(step)
            for group in optimizer.param_groups:
                group["lr"] = lr
            t0 = time.perf_counter()
            loss_sum = torch.zeros((), device=device)
            for micro in range(grad_accum_steps):
                batch = get_batch(step)  # this process's rows (DDP: strided by rank)
                # DDP averages gradients across ranks only on the last micro-batch
                last_micro = micro == grad_accum_steps - 1
                no_sync = model.no_sync() if dist.enabled and not last_micro else contextlib.nullcontext()
                with no_sync:
                    with precision:
                        loss = loss_fn(model, batch) / grad_accum_steps
                    scaler.scale(loss).backward()
                loss_sum += loss.detach().float()
            loss_value = all_reduce_mean(loss_sum).item()
            if not math.isfinite(loss_value):
                optimizer.zero_grad(set_to_none=True)
                kept = (f"the last good checkpoint (step {_saved_step(run_dir)}) is kept in {run_dir}"
                        if run_dir is not None and (run_dir / ckpt.STATE).is_file() else "no checkpoint was saved")
                raise TrainingDiverged(f"the loss became {loss_value} at step {step}; training stopped and "
                                       f"{kept} (try a lower learning rate, or fp32)")
            if grad_clip > 0:
                scaler.unscale_(optimizer)  # clip the true gradients, not the fp16-scaled ones
                torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            if on_step is not None:
                on_step({"step": step, "loss": loss_value, "lr": lr, "dt": time.perf_counter() - t0})
    model.eval()
    return step, interrupted


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
    step, best_val, last_losses = 0, None, None
    if resume:
        state, saved = ckpt.load_checkpoint(run_dir)
        ckpt.load_weights(raw_model, ckpt.checkpoint_dir(run_dir) / ckpt.WEIGHTS, device)
        ckpt.restore_training_state(saved, optimizer, device, scaler, batch_generator)
        step, best_val = state["step"], state.get("best_val_loss")
        if dist.is_main:
            truncate_metrics(run_dir, step)

    # torch.compile wraps the model and DDP wraps that; checkpoints come from raw_model, so
    # no "_orig_mod." or "module." prefixes reach the files.
    model = torch.compile(raw_model) if cfg.compile else raw_model
    eval_model = model
    if dist.enabled:
        from torch.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(model, device_ids=[dist.local_rank] if device.type == "cuda" else None)

    tokens_per_step = cfg.batch_size * cfg.block_size * cfg.grad_accum_steps * dist.world_size
    mc = raw_model.config
    token_flops = flops_per_token(raw_model.num_parameters(non_embedding=True), mc.n_layers, mc.n_heads,
                                  mc.d_head, mc.max_seq_len)
    peak, peak_source = peak_flops(device, cfg.dtype) if dist.is_main else (0.0, "")
    metrics = MetricsWriter(run_dir, enabled=dist.is_main)
    emit("start", {"step": step, "max_iters": cfg.max_iters, "device": str(device), "dtype": cfg.dtype,
                   "parameters": raw_model.num_parameters(), "tokens_per_step": tokens_per_step,
                   "world_size": dist.world_size, "peak_flops": peak, "peak_source": peak_source})

    # the hooks train_loop calls
    def get_gpt_batch(step: int) -> tuple[torch.Tensor, torch.Tensor]:
        return get_batch(train_data, cfg.batch_size, cfg.block_size, batch_generator, device,
                         dist.rank, dist.world_size)  # (B, T), (B, T)

    def next_token_loss(model: torch.nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, y = batch
        _, loss = model(x, y)
        return loss

    def evaluate(step: int) -> None:
        nonlocal best_val, last_losses
        local = estimate_loss(eval_model, {"train": train_data, "val": val_data}, cfg.batch_size, cfg.block_size,
                              cfg.eval_iters, device, cfg.seed + 1, cfg.dtype, dist.rank, dist.world_size)
        last_losses = {k: all_reduce_mean(torch.tensor(v, device=device)).item() for k, v in local.items()}
        best_val = last_losses["val"] if best_val is None else min(best_val, last_losses["val"])
        metrics.write({"step": step, "train_loss": last_losses["train"], "val_loss": last_losses["val"]}, plot=True)
        emit("eval", {"step": step, **last_losses})

    def save(step: int) -> None:
        if not dist.is_main:
            return
        ckpt.save_checkpoint(run_dir, raw_model, ckpt.training_state(optimizer, device, scaler, batch_generator), {
            "step": step, "best_val_loss": best_val, "last_losses": last_losses,
            "tokens_seen": step * tokens_per_step})
        emit("checkpoint", {"step": step, "path": str(run_dir)})

    def report(info: dict[str, Any]) -> None:
        tokens_per_s = tokens_per_step / info["dt"]
        info.update(tokens_per_s=tokens_per_s, mfu=mfu(tokens_per_s, token_flops, peak) if peak else None)
        if info["step"] % cfg.log_interval == 0:
            metrics.write(info)
        emit("step", info)

    decay_iters = cfg.max_iters if cfg.lr_decay_iters is None else cfg.lr_decay_iters
    started = time.perf_counter()
    step, interrupted = train_loop(
        model, optimizer, get_gpt_batch, next_token_loss,
        lambda step: get_lr(step, cfg.learning_rate, cfg.min_lr, cfg.warmup_iters, decay_iters),
        step, cfg.max_iters, cfg.grad_accum_steps, cfg.grad_clip, ctx, scaler, dist, cfg.eval_interval,
        evaluate_first=not resume, evaluate=evaluate, save=save, on_step=report, run_dir=run_dir)
    metrics.close()
    return TrainResult(raw_model, step, best_val, last_losses, interrupted, time.perf_counter() - started)


def _saved_step(run_dir: Path) -> int | str:
    try:
        return ckpt.read_state(run_dir)["step"]
    except (OSError, ValueError):
        return "?"
