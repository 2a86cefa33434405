"""A loss curve: metrics records in (see attnlab.runs.metrics), a matplotlib Figure out."""

from __future__ import annotations

from typing import Any, Sequence

from matplotlib.figure import Figure  # no pyplot: no global state, no backend switch


def loss_figure(records: Sequence[dict[str, Any]]) -> Figure | None:
    """The training loss per step and the train/val estimates against the step (None: nothing to
    draw): the cross-entropy for a GPT and the seq2seq token tasks, the MSE for seed 002's
    regression. Estimates are joined by lines only when there are three or more of them: two
    estimates (the start and the end of a short run) are two points, not a straight line from step 0.

        >>> fig = loss_figure([{"step": 1, "loss": 2.5}, {"step": 2, "train_loss": 2.0, "val_loss": 2.1}])
        >>> [line.get_label() for line in fig.axes[0].get_lines()]
        ['train (batch)', 'train (estimate)', 'val (estimate)']
    """
    steps = [m for m in records if "loss" in m]
    evals = [m for m in records if "val_loss" in m]
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
    return fig
