"""Train an SAE on a buffer of activations with the one training loop (`attnlab.train.loop`).

Each step draws `batch_size` rows of the buffer at random (a seeded generator, saved in every
checkpoint, so a resumed run draws what the uninterrupted one would have), takes one Adam step
on `sae_loss` (its L1 weight ramped up from 0 over the first `l1_warmup` steps), then
(`Plan.after_step`) sets the decoder rows back to unit length and, every
`resample_every` steps, resamples the features that fired on none of the batches since the last
resampling (`resample_dead`). No resampling in the last `resample_every` steps: the features it
revives need time to learn. The learning rate warms up for `warmup` steps, then decays (cosine)
to a tenth at the end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from attnlab.errors import UserError
from attnlab.labs.sae.settings import TrainSettings
from attnlab.labs.sae.metrics import feature_stats
from attnlab.labs.sae.model import SparseAutoencoder, sae_loss
from attnlab.labs.sae.resample import resample_dead
from attnlab.runs import checkpoint as ckpt
from attnlab.runs.metrics import MetricsWriter, truncate_metrics
from attnlab.train.loop import LoopResult, Plan, get_lr, train_loop

EventFn = Callable[[str, dict[str, Any]], None]


@dataclass
class Progress:
    """What a checkpoint keeps besides the weights and Adam: which features fired since the last
    resampling, and the batch generator."""

    fired: torch.Tensor  # (F,) bool
    step: int = 0  # the steps taken (the L1 weight's warm-up reads it)
    generator: torch.Generator = field(default_factory=torch.Generator)


def make_optimizer(sae: SparseAutoencoder, lr: float) -> torch.optim.Adam:
    return torch.optim.Adam(sae.parameters(), lr=lr, betas=(0.9, 0.999))


def check_enough(acts: torch.Tensor, batch_size: int) -> None:
    if len(acts) < batch_size:
        raise UserError(f"too few tokens: {len(acts)} activations for batches of {batch_size} "
                        f"(ask for more --tokens, or a smaller --batch-size)")


EVALUATED = ("l0", "variance_explained", "dead", "dense")  # what each evaluation writes to metrics.jsonl


def _fresh(sae: SparseAutoencoder, acts: torch.Tensor) -> int:
    """A new SAE's start: the pre-bias at the data's centre -> step 0."""
    with torch.no_grad():
        sae.b_dec.copy_(acts.mean(dim=0))
    return 0


def _start(sae: SparseAutoencoder, acts: torch.Tensor, optimizer, progress: Progress, run_dir: Path) -> int:
    """A resumed SAE's start: weights, optimizer, generator and fired features from run_dir's
    checkpoint -> its step."""
    device = sae.W_dec.device
    state, saved = ckpt.load_checkpoint(run_dir)
    ckpt.load_weights(sae, ckpt.checkpoint_dir(run_dir) / ckpt.WEIGHTS, device)
    ckpt.restore_training_state(saved, optimizer, device, batch_generator=progress.generator)
    progress.fired = saved["fired"].to(torch.bool)
    progress.step = state["step"]
    return state["step"]


def _resample(sae: SparseAutoencoder, optimizer, acts: torch.Tensor, progress: Progress, batch_size: int,
              at: int, on_event: EventFn | None) -> None:
    """Re-initialise the features that have not fired since the last resampling (`resample_dead`)."""
    device = sae.W_dec.device
    rows = torch.randint(len(acts), (min(len(acts), 16 * batch_size),), generator=progress.generator)
    revived = resample_dead(sae, optimizer, ~progress.fired.to(device), acts[rows].to(device), progress.generator)
    progress.fired.zero_()
    if on_event:
        on_event("resample", {"step": at, "revived": revived})


def train_sae(sae: SparseAutoencoder, acts: torch.Tensor, settings: TrainSettings, *,
              eval_acts: torch.Tensor | None = None, run_dir: Path | None = None, resume: bool = False,
              on_event: EventFn | None = None) -> LoopResult:
    """Train `sae` on acts (N, d) by `settings`. run_dir: checkpoints go there (and resume reads
    the last one); None: nothing is written. eval_acts: measured at each evaluation."""
    check_enough(acts, settings.batch_size)
    device = sae.W_dec.device
    optimizer = make_optimizer(sae, settings.lr)
    progress = Progress(torch.zeros(sae.config.features, dtype=torch.bool))
    progress.generator.manual_seed(settings.seed)
    step = _start(sae, acts, optimizer, progress, run_dir) if resume else _fresh(sae, acts)
    eval_acts = acts[:8192] if eval_acts is None else eval_acts

    def next_batch() -> torch.Tensor:
        rows = torch.randint(len(acts), (settings.batch_size,), generator=progress.generator)
        return acts[rows].to(device)

    def loss_fn(model: SparseAutoencoder, x: torch.Tensor) -> torch.Tensor:
        x_hat, f = model(x)
        progress.fired |= (f > 0).any(dim=0).detach().cpu()
        ramp = min(1.0, (progress.step + 1) / settings.l1_warmup) if settings.l1_warmup else 1.0
        return sae_loss(x, x_hat, f, settings.l1 * ramp)

    def after_step(at: int) -> None:
        progress.step = at
        sae.normalise_decoder()
        every = settings.resample_every
        if every and at % every == 0 and at <= settings.steps - every:
            _resample(sae, optimizer, acts, progress, settings.batch_size, at, on_event)

    def evaluate(at: int) -> dict[str, Any]:
        stats = feature_stats(sae, eval_acts)
        return {key: stats[key] for key in EVALUATED}

    def save(at: int) -> None:
        training = ckpt.training_state(optimizer, device, batch_generator=progress.generator)
        ckpt.save_checkpoint(run_dir, sae, {**training, "fired": progress.fired.clone()}, {"step": at})

    plan = Plan(next_batch=next_batch, loss_fn=loss_fn,
                lr=lambda at: get_lr(at, settings.lr, settings.lr / 10, settings.warmup, settings.steps),
                max_steps=settings.steps, eval_interval=settings.eval_interval, evaluate=evaluate,
                save=save if run_dir is not None else None, start_step=step, resumed=resume,
                log_interval=10, plot=False, after_step=after_step)
    metrics = MetricsWriter(run_dir, enabled=run_dir is not None)
    if resume:
        truncate_metrics(run_dir, step)
    sae.train()
    result = train_loop(sae, optimizer, plan, metrics, run_dir=run_dir, emit=on_event)
    sae.eval()
    return result
