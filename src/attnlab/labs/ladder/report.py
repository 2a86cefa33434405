"""The ablation ladder's report: its table, the overlaid validation curves, and ladder.md.

Everything here takes the rung records of `attnlab.labs.ladder.rungs.run_ladder` (plain dicts) and the
run folders they name; nothing trains.

    >>> rows = table_rows([
    ...     {"name": "bigram", "added": "a table", "params": 4900, "val_loss": 2.58, "seconds": 27.0},
    ...     {"name": "one-head", "added": "a head", "params": 7904, "val_loss": 2.41, "seconds": 40.2}])
    >>> rows[1]
    ['2', 'one-head', 'a head', '7,904', '2.410', '-0.170', '40 s']
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from matplotlib.figure import Figure

from attnlab.io import atomic_write
from attnlab.runs.metrics import read_metrics

HEADER = ("rung", "name", "what it adds", "params", "val loss", "Δ", "time")
NUMERIC = (False, False, False, True, True, True, True)  # right-aligned columns
LADDER_PNG = "ladder.png"
LADDER_MD = "ladder.md"


def table_rows(records: Sequence[dict[str, Any]]) -> list[list[str]]:
    """One row of strings per rung, in HEADER's order; Δ is the change from the rung before
    (negative: this rung's part lowered the loss). An unfinished rung has no loss."""
    rows, previous = [], None
    for index, record in enumerate(records, 1):
        loss = record.get("val_loss")
        delta = "" if loss is None or previous is None else f"{loss - previous:+.3f}"
        rows.append([str(index), record["name"], record["added"], f"{record['params']:,}",
                     "-" if loss is None else f"{loss:.3f}", delta, f"{record['seconds']:.0f} s"])
        previous = loss if loss is not None else previous
    return rows


def text_table(rows: Sequence[Sequence[str]]) -> str:
    """The rung table as aligned text for a terminal (numbers right-aligned)."""
    widths = [max(len(row[i]) for row in [HEADER, *rows]) for i in range(len(HEADER))]
    return "\n".join("  ".join(cell.rjust(w) if numeric else cell.ljust(w)
                               for cell, w, numeric in zip(row, widths, NUMERIC)).rstrip()
                     for row in [HEADER, *rows])


def markdown_table(rows: Sequence[Sequence[str]]) -> str:
    rule = ["---:" if numeric else "---" for numeric in NUMERIC]
    return "\n".join("| " + " | ".join(row) + " |" for row in [HEADER, rule, *rows])


def val_curve(run_dir: str | Path) -> tuple[list[int], list[float]]:
    """(steps, validation losses) of one run, from its metrics.jsonl."""
    evals = [m for m in read_metrics(run_dir) if "val_loss" in m]
    return [m["step"] for m in evals], [m["val_loss"] for m in evals]


def plot_ladder(records: Sequence[dict[str, Any]], title: str = "") -> Figure:
    """Every rung's validation loss against the step, one labelled line each. The y axis
    starts above the later rungs' losses and ends a little above the first evaluations after
    step 0 (at step 0 every model is near ln V, which would flatten the rest)."""
    fig = Figure(figsize=(8, 5))
    ax = fig.add_subplot()
    shown: list[float] = []
    for index, record in enumerate(records, 1):
        steps, losses = val_curve(record["run"])
        if not steps:
            continue
        final = "" if record.get("val_loss") is None else f" ({record['val_loss']:.3f})"
        ax.plot(steps, losses, marker="o", markersize=3, label=f"{index} {record['name']}{final}")
        shown += [loss for step, loss in zip(steps, losses) if step > 0] or losses
    if shown:
        ax.set_ylim(min(shown) - 0.05, max(shown) + 0.1)
    ax.set_xlabel("step")
    ax.set_ylabel("validation loss")
    ax.set_title(title or "validation loss of every rung")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def markdown(records: Sequence[dict[str, Any]], corpus: str) -> str:
    """ladder.md: the settings, the table, the picture and how to rerun it."""
    cfg = records[0]["config"] if records else {}
    settings = ", ".join(f"{name} {cfg[key]}" for name, key in (
        ("steps", "max_iters"), ("block", "block_size"), ("batch", "batch_size"), ("width", "d_model"),
        ("learning rate", "learning_rate"), ("seed", "seed"), ("eval batches", "eval_iters")) if key in cfg)
    folders = ", ".join(f"`{Path(r['run']).name}/`" for r in records)
    return "\n".join([
        f"# The ablation ladder on `{corpus}`", "",
        "Each rung adds one part of the transformer, as in Karpathy's \"Let's build GPT\", and is trained "
        "with the same data, seed, batches, steps and learning rate "
        f"({settings}). Δ is the change in validation loss from the rung before.", "",
        markdown_table(table_rows(records)), "",
        f"![validation loss of every rung]({LADDER_PNG})", "",
        f"Run folders: {folders}.", "",
    ])


def write_report(out_dir: str | Path, records: Sequence[dict[str, Any]]) -> tuple[Path, Path]:
    """Write ladder.png and ladder.md into out_dir -> their paths."""
    out_dir = Path(out_dir)
    corpus = records[0]["config"]["corpus"] if records else "?"
    fig = plot_ladder(records, title=f"validation loss of every rung ({corpus})")
    png = atomic_write(out_dir / LADDER_PNG, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    md = atomic_write(out_dir / LADDER_MD,
                      lambda tmp: Path(tmp).write_text(markdown(records, corpus), encoding="utf-8"))
    return png, md
