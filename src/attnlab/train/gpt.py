"""Training a GPT: its data, optimizer, evaluation and checkpoints, run by the one loop.

`train` builds a `Plan` (`gpt_plan`: random windows of the corpus, the next-token loss, warmup
then cosine decay, train/val estimates and a checkpoint every eval_interval steps) and hands it
to `attnlab.train.loop.train_loop`, the loop every model in attnlab trains with.
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from attnlab.config import TrainConfig
from attnlab.device import autocast, flops_per_token, peak_flops
from attnlab.distributed import DistInfo, all_reduce_mean
from attnlab.model.gpt import GPT
from attnlab.runs import checkpoint as ckpt
from attnlab.runs.metrics import MetricsWriter, truncate_metrics
from attnlab.runtime.decision import Runtime, decide
from attnlab.fast.adamw import FusedAdamW
from attnlab.train.data import corpus_names, get_batch, load_corpus, train_val_split
from attnlab.train.loop import EventFn, Plan, Speed, get_lr, train_loop
from attnlab.errors import UserError


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
    precision = autocast(device, dtype)
    losses = {}
    for name, data in splits.items():
        generator = torch.Generator().manual_seed(seed)
        total = torch.zeros((), device=device)
        for _ in range(eval_iters):
            x, y = get_batch(data, batch_size, block_size, generator, device, rank, world_size)  # (B, T)
            with precision:
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
            raise UserError(f"the corpus is too short: its {name} split has {len(data)} tokens, fewer than "
                             f"block_size + 1 = {cfg.block_size + 1} (use more text or a smaller --block-size)")
    return train_data, val_data


def split_batches(run_dir: str | Path, tokenizer, split: str, batches: int,
                  seed: int = 0, corpus: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """`batches` batches of a run's own train or val split, drawn as `estimate_loss` draws them
    (a generator seeded with `seed`), stacked into one: x, y (batches · batch_size, block_size).
    The text is the run's corpus (`run_corpus`), or `corpus` when given."""

    if split not in ("train", "val"):
        raise UserError(f"unknown split {split!r}; choose train or val")
    if batches < 1:
        raise UserError(f"batches must be at least 1, got {batches}")
    _, cfg, _ = ckpt.read_run_config(run_dir)
    text = load_corpus(corpus if corpus is not None else run_corpus(run_dir, cfg.corpus))
    train_data, val_data = encode_corpus(text, tokenizer, cfg)
    data = val_data if split == "val" else train_data
    generator = torch.Generator().manual_seed(seed)
    pairs = [get_batch(data, cfg.batch_size, cfg.block_size, generator) for _ in range(batches)]
    return torch.cat([x for x, _ in pairs]), torch.cat([y for _, y in pairs])  # (N·B, T) each


def run_corpus(run_dir: str | Path, corpus: str) -> str:
    """The corpus of a run, as the same text from any folder: a built-in name (as `load_corpus`
    reads it first), else the absolute "corpus_path" config.json stored when the run was made, or
    an absolute `corpus`. A relative path with no "corpus_path" (a run made before attnlab stored
    it) was relative to a folder the run does not record, so it is refused rather than read
    against the current folder; so are stdin and a missing file."""
    where = Path(run_dir) / "config.json"
    stored = ckpt.read_config(run_dir, "gpt").get("corpus_path")
    if corpus in corpus_names():
        return corpus
    if corpus == "-":
        raise UserError(f"{where}: the run was trained on stdin (--corpus -), which cannot be read again; "
                         f"pass --corpus FILE with the same text, or use --text")
    path = stored if isinstance(stored, str) and Path(stored).is_absolute() else corpus
    if not Path(path).is_absolute():
        raise UserError(f"{where} names its corpus by the relative path {corpus!r}, and the folder it was "
                         f"relative to is not recorded (a run made before attnlab stored the full path); pass "
                         f"--corpus FILE with the text it was trained on")
    if not Path(path).exists():
        raise UserError(f"{where} names the corpus {path}, which is missing; pass --corpus FILE with the text "
                         f"it was trained on")
    return path


def configure_optimizer(model: GPT, cfg: TrainConfig, device: torch.device) -> torch.optim.AdamW:
    """AdamW with weight decay on the 2-D weights (matmuls, embeddings) only: biases and
    LayerNorm gains are not pulled towards zero. The fused kernel (one pass over all the
    parameters instead of a loop of small ops) on CUDA and CPU."""
    params = [p for p in model.parameters() if p.requires_grad]  # a tied weight appears once
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg.weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    if device.type in ("cuda", "cpu"):
        return FusedAdamW(groups, lr=cfg.learning_rate, betas=(cfg.beta1, cfg.beta2))  # torch's fused AdamW
    return torch.optim.AdamW(groups, lr=cfg.learning_rate, betas=(cfg.beta1, cfg.beta2))


@dataclass
class TrainResult:
    model: GPT  # the trained model (unwrapped), in eval mode
    step: int
    best_val_loss: float | None
    last_losses: dict[str, float] | None  # the last train/val estimate
    interrupted: bool  # stopped by Ctrl-C (a checkpoint was saved)
    elapsed_s: float


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


def setup_gpt_run(cfg: TrainConfig, vocab_size: int, run_dir: Path, resume: bool, dist: DistInfo,
                  runtime: Runtime | None = None) -> GPTRun:
    """Model, optimizer and RNGs, from the seed or (resume) from run_dir's checkpoint; on the
    runtime's device and dtype (default: decided from cfg.device and cfg.dtype, torch's threads kept)."""
    if runtime is None:
        runtime = decide(cfg.device, cfg.dtype, threads=torch.get_num_threads())
    device = runtime.device
    if device.type == "cuda" and dist.enabled:
        device = torch.device("cuda", dist.local_rank)
    precision = runtime.autocast()
    cfg = dataclasses.replace(cfg, dtype=runtime.dtype)  # "auto" -> what it chose
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


def evaluate(run: GPTRun, splits: dict[str, torch.Tensor]) -> dict[str, float]:
    """Train and val loss estimates (averaged over ranks) -> {"train_loss", "val_loss"}."""
    cfg = run.cfg
    local = estimate_loss(run.eval_model, splits, cfg.batch_size, cfg.block_size, cfg.eval_iters, run.device,
                          cfg.seed + 1, cfg.dtype, run.dist.rank, run.dist.world_size)
    run.last_losses = {k: all_reduce_mean(torch.tensor(v, device=run.device)).item() for k, v in local.items()}
    val = run.last_losses["val"]
    run.best_val = val if run.best_val is None else min(run.best_val, val)
    return {"train_loss": run.last_losses["train"], "val_loss": val}


def save(run: GPTRun, step: int) -> None:
    """A checkpoint of `step` (rank 0 writes it)."""
    if run.dist.is_main:
        ckpt.save_checkpoint(run.run_dir, run.raw_model, ckpt.training_state(
            run.optimizer, run.device, run.scaler, run.batch_generator), {
            "step": step, "best_val_loss": run.best_val, "last_losses": run.last_losses,
            "tokens_seen": step * tokens_per_step(run)})


def tokens_per_step(run: GPTRun) -> int:
    return run.cfg.batch_size * run.cfg.block_size * run.cfg.grad_accum_steps * run.dist.world_size


def gpt_plan(run: GPTRun, train_data: torch.Tensor, val_data: torch.Tensor, resume: bool) -> Plan:
    """What the one loop does for a GPT: random windows of train_data, next-token loss, nanoGPT's
    schedule, train/val estimates and a checkpoint every eval_interval steps."""
    cfg, mc, splits = run.cfg, run.raw_model.config, {"train": train_data, "val": val_data}
    decay_iters = cfg.max_iters if cfg.lr_decay_iters is None else cfg.lr_decay_iters
    token_flops = flops_per_token(run.raw_model.num_parameters(non_embedding=True),  # a bigram: no blocks
                                  len(run.raw_model.blocks), mc.n_heads, mc.d_head, mc.max_seq_len)
    peak = peak_flops(run.device, cfg.dtype) if run.dist.is_main else None  # only rank 0 reports
    return Plan(
        next_batch=lambda: get_batch(train_data, cfg.batch_size, cfg.block_size, run.batch_generator, run.device,
                                     run.dist.rank, run.dist.world_size),
        loss_fn=next_token_loss,
        lr=lambda step: get_lr(step, cfg.learning_rate, cfg.min_lr, cfg.warmup_iters, decay_iters),
        max_steps=cfg.max_iters, eval_interval=cfg.eval_interval,
        evaluate=lambda step: evaluate(run, splits), save=lambda step: save(run, step),
        start_step=run.step, resumed=resume, grad_accum_steps=cfg.grad_accum_steps, grad_clip=cfg.grad_clip,
        log_interval=cfg.log_interval, speed=Speed(tokens_per_step(run), token_flops, peak))


def train(cfg: TrainConfig, train_data: torch.Tensor, val_data: torch.Tensor, tokenizer, run_dir: str | Path,
          resume: bool = False, dist: DistInfo = DistInfo(), on_event: EventFn | None = None,
          runtime: Runtime | None = None) -> TrainResult:
    """Train a GPT on token ids with the one loop; write checkpoints and metrics into run_dir
    (rank 0 only), on the runtime's device and dtype (see `setup_gpt_run`). This is the loop alone:
    `attnlab.train.run.train_run` makes the run folder around it (config.json, its rules, DDP).

    With resume=True the weights, optimizer, step and RNG states come from run_dir's
    checkpoint, and the losses continue exactly as if the run had never stopped (bit for bit
    on a CPU in fp32; under DDP only rank 0's dropout RNG state is saved).
    """
    run_dir = Path(run_dir)
    if dist.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
    emit = on_event if (on_event is not None and dist.is_main) else (lambda kind, info: None)
    run = setup_gpt_run(cfg, tokenizer.vocab_size, run_dir, resume, dist, runtime)
    plan = gpt_plan(run, train_data, val_data, resume)
    peak = plan.speed.peak
    emit("start", {"step": run.step, "max_iters": cfg.max_iters, "device": str(run.device),
                   "dtype": run.cfg.dtype, "parameters": run.raw_model.num_parameters(),
                   "tokens_per_step": plan.speed.tokens_per_step, "world_size": dist.world_size,
                   "peak_flops": peak.flops if peak else 0.0, "peak_source": peak.source if peak else ""})
    result = train_loop(run.model, run.optimizer, plan, MetricsWriter(run_dir, enabled=dist.is_main),
                        precision=run.precision, scaler=run.scaler, dist=dist, run_dir=run_dir,
                        emit=lambda kind, info: emit(kind, _losses_event(kind, info)))
    run.raw_model.eval()
    return TrainResult(run.raw_model, result.step, run.best_val, run.last_losses, result.interrupted,
                       result.elapsed_s)


def _losses_event(kind: str, info: dict[str, Any]) -> dict[str, Any]:
    """An "eval" event carries the losses as "train" and "val" (the progress bar's names)."""
    if kind != "eval":
        return info
    return {"step": info["step"], "train": info["train_loss"], "val": info["val_loss"]}


def next_token_loss(model: torch.nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    x, y = batch  # (B, T), (B, T): y is x shifted by one
    _, loss = model(x, y)
    return loss
