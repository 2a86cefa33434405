"""loss.png: a run's loss curve, drawn from its metrics.jsonl."""

from __future__ import annotations

import os
from pathlib import Path

from attnlab.io import atomic_write
from attnlab.runs.metrics import read_metrics

LOSS_PNG = "loss.png"


def plot_losses(run_dir: str | os.PathLike) -> Path | None:
    """Draw loss.png from metrics.jsonl (training loss per step, train/val estimates): the
    cross-entropy for a GPT and the seq2seq token tasks, the MSE for seed 002's regression.
    Estimates are joined by lines only when there are three or more of them: two estimates
    (the start and the end of a short run) are two points, not a straight line from step 0."""
    from matplotlib.figure import Figure  # no pyplot: no global state, no backend switch

    metrics = read_metrics(run_dir)
    steps = [m for m in metrics if "loss" in m]
    evals = [m for m in metrics if "val_loss" in m]
    if not steps and not evals:
        return None
    fig = Figure(figsize=(7, 4))
    ax = fig.add_subplot()
    if steps:
        ax.plot([m["step"] for m in steps], [m["loss"] for m in steps], lw=0.8, alpha=0.5, label="train (batch)")
    if evals:
        style = "o-" if len(evals) >= 3 else "o"
        ax.plot([m["step"] for m in evals], [m["train_loss"] for m in evals], style, label="train (estimate)")
        ax.plot([m["step"] for m in evals], [m["val_loss"] for m in evals], style, label="val (estimate)")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = Path(run_dir) / LOSS_PNG
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    return path
