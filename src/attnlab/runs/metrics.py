"""metrics.jsonl: one JSON object per logged step or evaluation, appended as training goes.

    {"step": 10, "loss": 2.71, "lr": 0.001, "dt": 0.031, ...}        a training step
    {"step": 250, "train_loss": 2.02, "val_loss": 2.09}              an evaluation

A line cut short by a crash (the last one) is skipped. Any other line that is not such a
record is an error that names the file and the line, never a traceback. `plot_losses` draws
the records as loss.png (the picture itself is attnlab.viz.loss's).
"""

from __future__ import annotations

import importlib.util
import json
import os
import time
from pathlib import Path
from typing import Any

from attnlab.io import atomic_write, current_umask, read_text_limited, write_failure
from attnlab.errors import UserError

METRICS = "metrics.jsonl"
LOSS_PNG = "loss.png"
METRICS_LIMIT = 2**30  # a line per logged step: millions of steps fit


class MetricsWriter:
    """metrics.jsonl (+ loss.png redrawn at each evaluation, + TensorBoard if installed)."""

    PLOT_EVERY_S = 10.0  # redraw loss.png at most this often (and once more at the end)

    def __init__(self, run_dir: Path | None, enabled: bool):
        self.run_dir, self.enabled, self.tensorboard = run_dir, enabled and run_dir is not None, None
        # The first drawing waits PLOT_EVERY_S too: at the step-0 evaluation it would hold up the
        # first step (importing matplotlib and drawing took 1 to 2.5 s on a 2-core EPYC).
        self.plotted_at, self.plot_pending = time.monotonic(), False
        if self.enabled and importlib.util.find_spec("tensorboard") is not None:
            from torch.utils.tensorboard import SummaryWriter

            self.tensorboard = SummaryWriter(log_dir=str(run_dir / "tensorboard"))

    def write(self, record: dict[str, Any], plot: bool = False) -> None:
        if not self.enabled:
            return
        path = self.run_dir / METRICS
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666 & ~current_umask() | 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
        except OSError as exc:  # a line cut short is the last one, skipped by read_metrics
            raise write_failure(path, exc) from None
        if self.tensorboard is not None:
            for key, value in record.items():
                if key != "step" and isinstance(value, (int, float)):
                    self.tensorboard.add_scalar(key, value, record["step"])
        if plot:
            self.plot_pending = True
            if time.monotonic() - self.plotted_at >= self.PLOT_EVERY_S:
                self._plot()

    def _plot(self) -> None:
        plot_losses(self.run_dir)
        self.plotted_at, self.plot_pending = time.monotonic(), False

    def close(self) -> None:
        if self.plot_pending:
            self._plot()
        if self.tensorboard is not None:
            self.tensorboard.close()


def read_metrics(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """Every record of run_dir/metrics.jsonl ([] if there is none)."""
    path = Path(run_dir) / METRICS
    if not path.is_file():
        return []
    try:
        lines = read_text_limited(path, METRICS_LIMIT, "the metrics file").splitlines()
    except UnicodeDecodeError as exc:
        raise UserError(f"{path} is not UTF-8 text (byte {exc.start}); move it away to continue") from None
    records = []
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines):  # the last line, cut short by a crash: skip it
                continue
            raise UserError(f"{path}, line {number}: not JSON; move the file away to continue") from None
        records.append(_checked(record, path, number))
    return records


def _checked(record: Any, path: Path, number: int) -> dict[str, Any]:
    step = record.get("step") if isinstance(record, dict) else None
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise UserError(f"{path}, line {number}: not a metrics record (needs an integer 'step', got {step!r})")
    for key, value in record.items():
        if key != "step" and not _is_numbers(value):
            raise UserError(f"{path}, line {number}: {key!r} must be a number or a list of numbers, got {value!r}")
    return record


def plot_losses(run_dir: str | os.PathLike) -> Path | None:
    """Draw run_dir/loss.png from its metrics.jsonl (None: no losses logged yet, nothing drawn)."""
    # Here, not at the top: attnlab.viz loads matplotlib (0.7 s measured on a busy 2-core EPYC),
    # which a run that never draws (plot=False, DDP ranks other than 0) need not pay.
    from attnlab.viz.loss import loss_figure

    fig = loss_figure(read_metrics(run_dir))
    if fig is None:
        return None
    path = Path(run_dir) / LOSS_PNG
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    return path


def _is_numbers(value: Any) -> bool:
    """A number, None, or a list of numbers (a lab's spectrum, say)."""
    if isinstance(value, list):
        return all(_is_numbers(v) and not isinstance(v, list) for v in value)
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


def truncate_metrics(run_dir: str | os.PathLike, step: int) -> None:
    """On resume, drop lines logged after the checkpoint (they will be logged again)."""
    path = Path(run_dir) / METRICS
    if path.is_file():
        keep = [json.dumps(m) + "\n" for m in read_metrics(run_dir) if m["step"] <= step]
        atomic_write(path, lambda tmp: Path(tmp).write_text("".join(keep), encoding="utf-8"))


RISING_EVALS = 2  # evaluations after the lowest val loss, each above it, that make a rise


def overfitting(records: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Whether the evaluations show the model memorising its corpus: at least RISING_EVALS
    evaluations came after the lowest val loss, each above it, the last by more than 1%, while the
    train loss kept falling. -> {"best_step", "best_val", "last_val"}, or None.

    >>> evals = [{"step": s, "train_loss": t, "val_loss": v}
    ...          for s, t, v in [(0, 4.0, 4.0), (250, 2.0, 2.1), (500, 1.5, 2.2), (750, 1.2, 2.3)]]
    >>> overfitting(evals)
    {'best_step': 250, 'best_val': 2.1, 'last_val': 2.3}
    >>> overfitting(evals[:3]) is None  # one evaluation above the lowest is not yet a rise
    True
    """
    evals = [r for r in records if "val_loss" in r and "train_loss" in r]
    if len(evals) < RISING_EVALS + 1:
        return None
    best = min(range(len(evals)), key=lambda i: evals[i]["val_loss"])
    after = evals[best + 1:]
    lowest = evals[best]["val_loss"]
    rose = (len(after) >= RISING_EVALS and all(r["val_loss"] > lowest for r in after)
            and after[-1]["val_loss"] > 1.01 * lowest)
    if not rose or evals[-1]["train_loss"] >= evals[best]["train_loss"]:
        return None
    return {"best_step": evals[best]["step"], "best_val": evals[best]["val_loss"], "last_val": evals[-1]["val_loss"]}
