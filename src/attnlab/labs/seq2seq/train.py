"""Training an encoder-decoder with the one loop (`attnlab.train.loop.train_loop`) and run folder.

Only the plan differs from a GPT's: `get_batch(step)` is the task (a Seq2SeqBatch; the loop does not
know about copy, sort or seed 002's regression), and the loss is the model's teacher-forced
forward. The learning rate warms up, then decays along a cosine to lr/10.

A run folder is `attnlab.runs.checkpoint`'s, with config.json {"kind": "seq2seq", "model":
Seq2SeqConfig, "task": ..., "train": ...}: a checkpoint folder (model.safetensors, optimizer.pt
with Adam and the RNG state) committed by state.json ({"step": ..., "checkpoint": ...});
metrics.jsonl (the loss at every step) and loss.png.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import torch

from attnlab.runs import checkpoint as ckpt
from attnlab.config import Seq2SeqConfig
from attnlab.io import load_json, save_json
from attnlab.runs.metrics import MetricsWriter, plot_losses, truncate_metrics
from attnlab.model.seq2seq import EncoderDecoder
from attnlab.labs.seq2seq.tasks import Seq2SeqBatch, plus2_regression_data
from attnlab.train.loop import EventFn, Plan, get_lr, train_loop

KIND = "seq2seq"


def teacher_forced_loss(model: EncoderDecoder, batch: Seq2SeqBatch) -> torch.Tensor:
    """The decoder reads the true previous targets (tgt_in) and predicts the next ones (labels)."""
    _, loss = model(batch.src, batch.tgt_in, batch.labels, src_key_padding_mask=batch.src_pad,
                    tgt_key_padding_mask=batch.tgt_pad)
    return loss


def train_seq2seq(model: EncoderDecoder, get_batch: Callable[[int], Seq2SeqBatch], steps: int, lr: float,
                  warmup: int = 0, min_lr: float | None = None, grad_clip: float = 1.0,
                  run_dir: str | Path | None = None, resume: bool = False, save_every: int = 500,
                  on_event: EventFn | None = None) -> tuple[torch.optim.Optimizer, int, bool]:
    """Train with Adam up to `steps` -> (the optimizer, the step reached, stopped by Ctrl-C).

    get_batch(step) is the task hook: a Seq2SeqBatch, or any object with src, tgt_in, labels and
    src_pad/tgt_pad (seed 002's regression: the same batch every step). The learning rate warms
    up over `warmup` steps, then decays to min_lr (default lr / 10; lr for a constant rate);
    grad_clip 0 is no clipping. With run_dir a checkpoint is saved every save_every steps, at the
    end and on Ctrl-C; resume=True continues from it (`model` must have the run's config).
    """
    if run_dir is not None:
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    cpu = torch.device("cpu")
    step = 0
    if resume:
        state, saved = ckpt.load_checkpoint(run_dir)
        ckpt.load_weights(model, ckpt.checkpoint_dir(run_dir) / ckpt.WEIGHTS)
        ckpt.restore_training_state(saved, optimizer, cpu)
        step = state["step"]
        truncate_metrics(run_dir, step)
    emit = on_event or (lambda kind, info: None)
    emit("start", {"step": step, "max_iters": steps, "device": "cpu", "dtype": "fp32",
                   "parameters": sum(p.numel() for p in model.parameters())})
    metrics = MetricsWriter(run_dir, enabled=run_dir is not None)  # metrics.jsonl
    min_lr = lr / 10 if min_lr is None else min_lr

    def save(at: int) -> None:
        if run_dir is not None:
            _save(run_dir, model, optimizer, at, emit)

    plan = Plan(next_batch=_Batches(get_batch, step), loss_fn=teacher_forced_loss,
                lr=lambda at: get_lr(at, lr, min_lr, warmup, steps), max_steps=steps, eval_interval=save_every,
                save=save, start_step=step, resumed=resume, grad_clip=grad_clip, plot=False)
    result = train_loop(model, optimizer, plan, metrics, run_dir=run_dir, emit=emit)
    model.eval()
    return optimizer, result.step, result.interrupted


class _Batches:
    """next_batch() for the loop: get_batch(step) of the task, for step = start, start + 1, ..."""

    def __init__(self, get_batch: Callable[[int], Seq2SeqBatch], start: int):
        self.get_batch, self.step = get_batch, start

    def __call__(self) -> Seq2SeqBatch:
        batch = self.get_batch(self.step)
        self.step += 1
        return batch


def _save(run_dir: Path, model: EncoderDecoder, optimizer: torch.optim.Optimizer, step: int, emit: EventFn) -> None:
    ckpt.save_checkpoint(run_dir, model, ckpt.training_state(optimizer, torch.device("cpu")), {"step": step})
    plot_losses(run_dir)
    emit("checkpoint", {"step": step, "path": str(run_dir)})


def save_run_config(run_dir: str | Path, config: Seq2SeqConfig, task: dict[str, Any], train: dict[str, Any]) -> None:
    """config.json, written once when a run starts."""
    save_json(Path(run_dir) / ckpt.CONFIG, {"kind": KIND, "model": config.to_dict(), "task": task, "train": train})


def read_run_config(run_dir: str | Path) -> dict[str, Any]:
    """config.json of a seq2seq run; another kind of run (e.g. a GPT) is a one-line ValueError."""
    return ckpt.read_config(run_dir, KIND)


def add_to_state(run_dir: str | Path, **results: Any) -> None:
    """Record results (e.g. the held-out accuracy) next to the step in state.json."""
    path = Path(run_dir) / ckpt.STATE
    save_json(path, {**load_json(path), **results})


def train_plus2_regression(epochs: int = 500, lr: float = 1e-3, config: Seq2SeqConfig | None = None,
                           run_dir: str | Path | None = None, on_event: EventFn | None = None,
                           ) -> tuple[EncoderDecoder, dict]:
    """Seed 002's program with our parts: full-batch Adam on one sequence, epochs 0..`epochs`
    (so epochs + 1 updates, as the seed's `range(epochs + 1)`), constant lr, no clipping.

    -> (model in eval mode, {"src", "target", "teacher_forced", "autoregressive"} as lists).
    teacher_forced is what the seed prints: the decoder is given the true previous targets.
    autoregressive feeds the decoder its own previous predictions, starting from 0.
    """
    src, tgt, target = plus2_regression_data()  # (1, 5, 1) each
    model = EncoderDecoder(config or Seq2SeqConfig())
    batch = Seq2SeqBatch(src, None, tgt, None, target, torch.tensor([src.shape[1]]))
    train_seq2seq(model, lambda step: batch, steps=epochs + 1, lr=lr, min_lr=lr, grad_clip=0.0, run_dir=run_dir,
                  on_event=on_event)
    with torch.no_grad():
        teacher_forced, _ = model(src, tgt)  # (1, 5, 1)
        autoregressive = model.greedy_decode(src, 0.0, src.shape[1])  # (1, 5, 1)
    return model, {"src": src.view(-1).tolist(), "target": target.view(-1).tolist(),
                   "teacher_forced": teacher_forced.view(-1).tolist(),
                   "autoregressive": autoregressive.view(-1).tolist()}
