"""`attnlab grokking` without the command line: train (or continue) the lab's run folder, then
write what it found (summary.json, report.md, grokking.png) next to the checkpoints."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from attnlab.errors import UserError
from attnlab.io import atomic_write, save_json
from attnlab.labs.grokking.analysis import neuron_spectrum, report_markdown, story, summary
from attnlab.labs.grokking.config import GrokSettings
from attnlab.labs.grokking.lab import (LAB_FILE, EventFn, GrokConfig, Task, check_memory, check_resumable,
                                      train_grokking)
from attnlab.runs.folder import (BOOKKEEPING, RUN_FILES, fixed_names, is_attnlab_folder, open_run_folder,
                                 read_marker)
from attnlab.runs.metrics import read_metrics

SUMMARY, REPORT, FIGURE = "summary.json", "report.md", "grokking.png"
FILES = RUN_FILES + (LAB_FILE, SUMMARY, REPORT, FIGURE)  # the fixed names a grokking run writes


@dataclass
class GrokResult:
    summary: dict[str, Any]  # the --json object
    paragraphs: list[str]  # the story in plain words
    interrupted: bool  # stopped by Ctrl-C: a checkpoint was saved, nothing else written
    files: list[Path]

    def to_json(self) -> dict[str, Any]:
        """`attnlab grokking --json` and the web lab's answer: the summary (analysis.summary)."""
        return self.summary


def check_kind(out_dir: Path) -> None:
    """A grokking run goes into a new or empty folder, or into a grokking run's: never into another
    attnlab folder (a language model's run, an exported model, a lab's report), whatever the mode."""
    if not is_attnlab_folder(out_dir) or LAB_FILE in fixed_names(out_dir):
        return
    if any(p.name not in BOOKKEEPING for p in out_dir.iterdir()):
        what = read_marker(out_dir).get("what") or "folder"
        raise UserError(f"{out_dir} is an attnlab {what} of another kind, not a grokking run; refusing to write "
                        f"into it: pick another --out-dir")


def run_grokking(cfg: GrokConfig, out_dir: str | Path, mode: str = "new", png: bool = True,
                 on_event: EventFn | None = None) -> GrokResult:
    """mode: "new", "resume" or "overwrite" (as `attnlab train`). Training writes the run folder;
    when it ends (not on Ctrl-C) the analysis files are written beside it."""
    out_dir = Path(out_dir)
    check_kind(out_dir)
    check_memory(cfg)  # before the folder is touched
    if mode == "resume" and (out_dir / LAB_FILE).is_file():  # (no grokking.json: open_run_folder says why)
        check_resumable(cfg, out_dir)  # before the folder is touched
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
            from attnlab.labs.grokking.figures import plot_grokking  # matplotlib: only for the picture
            from attnlab.viz.png import save_figure

            freqs, shares = neuron_spectrum(model, Task.make(cfg).inputs, cfg.p)
            files.append(save_figure(plot_grokking(history, s, freqs, shares), out_dir / FIGURE))
        text = report_markdown(s, paragraphs, FIGURE if png else "")
        files.append(atomic_write(out_dir / REPORT, lambda tmp: Path(tmp).write_text(text, encoding="utf-8")))
    return GrokResult(s, paragraphs, False, files)


def run(settings: GrokSettings, progress: EventFn) -> GrokResult:
    """The lab's run (labs/shape.py): train or continue settings.out_dir, then analyse it."""
    return run_grokking(settings.lab_config(), settings.out_dir, settings.mode, png=settings.png, on_event=progress)


def report(result: GrokResult) -> list[str]:
    """What `attnlab grokking` prints: the story, then what was written (or how to go on)."""
    lines = [""]
    for paragraph in result.paragraphs:
        lines += [paragraph, ""]
    if result.interrupted:
        lines.append(f"interrupted at step {result.summary['steps']}: checkpoint saved. Continue with:\n"
                     f"  attnlab grokking --out-dir {result.summary['run']} --resume")
    else:
        lines.append("wrote " + ", ".join(str(f) for f in result.files))
    return lines
