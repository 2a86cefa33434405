"""`attnlab grokking` without the command line: train (or continue) the lab's run folder, then
write what it found (summary.json, report.md, grokking.png) next to the checkpoints."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from attnlab.io import atomic_write, save_json
from attnlab.labs.grokking.analysis import neuron_spectrum, report_markdown, story, summary
from attnlab.labs.grokking.figures import plot_grokking
from attnlab.labs.grokking.lab import LAB_FILE, EventFn, GrokConfig, Task, train_grokking
from attnlab.runs.folder import RUN_FILES, open_run_folder
from attnlab.runs.metrics import read_metrics
from attnlab.viz.png import save_figure

SUMMARY, REPORT, FIGURE = "summary.json", "report.md", "grokking.png"
FILES = RUN_FILES + (LAB_FILE, SUMMARY, REPORT, FIGURE)  # the fixed names a grokking run writes


@dataclass
class GrokResult:
    summary: dict[str, Any]  # the --json object
    paragraphs: list[str]  # the story in plain words
    interrupted: bool  # stopped by Ctrl-C: a checkpoint was saved, nothing else written
    files: list[Path]


def run_grokking(cfg: GrokConfig, out_dir: str | Path, mode: str = "new", png: bool = True,
                 on_event: EventFn | None = None) -> GrokResult:
    """mode: "new", "resume" or "overwrite" (as `attnlab train`). Training writes the run folder;
    when it ends (not on Ctrl-C) the analysis files are written beside it."""
    out_dir = Path(out_dir)
    with open_run_folder(out_dir, mode, FILES):
        model, result = train_grokking(cfg, out_dir, resume=mode == "resume", on_event=on_event)
        history = [r for r in read_metrics(out_dir) if "test_acc" in r]
        s = summary(cfg.p, cfg.train_fraction, result.step, history, str(out_dir))
        paragraphs = story(s, history)
        if result.interrupted:
            return GrokResult(s, paragraphs, True, [])
        save_json(out_dir / SUMMARY, s)
        files = [out_dir / SUMMARY]
        if png:
            freqs, shares = neuron_spectrum(model, Task.make(cfg).inputs, cfg.p)
            files.append(save_figure(plot_grokking(history, s, freqs, shares), out_dir / FIGURE))
        text = report_markdown(s, paragraphs, FIGURE if png else "")
        files.append(atomic_write(out_dir / REPORT, lambda tmp: Path(tmp).write_text(text, encoding="utf-8")))
    return GrokResult(s, paragraphs, False, files)
