"""`attnlab seq2seq`: train the encoder-decoder on seed 002's +2 regression or a token task.

    attnlab seq2seq --task plus2-regression          # seed 002's program, with our parts
    attnlab seq2seq --task reverse --steps 1500 --out runs/reverse --png reverse.png

Every Seq2SeqRunConfig field is a flag (`min_len` is `--min-len`); the run itself is
attnlab.labs.seq2seq.run's. This module parses and prints.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable

from attnlab.cli._help import HelpFormatter
from attnlab.cli._lab import add_settings, given_with_config, print_json, print_lines
from attnlab.cli._progress import Progress
from attnlab.cli._runtime_args import add_runtime_args, use_runtime
from attnlab.cli._source_args import check_writable
from attnlab.labs.seq2seq.settings import REGRESSION_TASK, Seq2SeqRunConfig

DESCRIPTION = """Train an encoder-decoder transformer (seed 002's model, built from attnlab's own
attention, blocks and sinusoidal positions) and look at its cross-attention.

plus2-regression is seed 002's program: one sequence of numbers in, the same numbers + 2 out.
The token tasks (copy, reverse, sort, plus2) map random sequences to sequences and report the
exact match on held-out sequences the model never saw, and how much of each cross-attention
head lies on the diagonal (the anti-diagonal for reverse). With --out the run is checkpointed
and --resume continues it; the flags that define the run must then match the saved ones, and
those not given are the saved run's."""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("seq2seq", help="train an encoder-decoder (seed 002) and look at its cross-attention",
                              description=DESCRIPTION, formatter_class=HelpFormatter)
    add_settings(p, Seq2SeqRunConfig, title="settings (Seq2SeqRunConfig's fields; also the keys of --config)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object (the progress goes to "
                                                       "stderr)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_runtime_args(p, threads=False)  # --threads is a setting of the run
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from attnlab.labs.seq2seq.run import resolve_settings
    from attnlab.labs.seq2seq.settings import LAB

    settings = resolve_settings(given_with_config(Seq2SeqRunConfig, args))
    use_runtime(args, threads=settings.threads)
    check_writable(settings.png)
    check_writable(settings.pe_png)
    out = sys.stderr if args.json else sys.stdout  # --json: stdout holds the JSON alone
    progress = Progress(lambda line: print(line, file=out), enabled=not (args.no_progress or args.json))
    events = progress if settings.task != REGRESSION_TASK else epoch_log(progress, settings.steps)

    def on_event(kind: str, info: dict) -> None:
        print(info["line"], file=out) if kind == "note" else events(kind, info)

    try:
        result = LAB.run(settings, on_event)
    finally:
        progress.close()
    if args.json:
        print_json(result)
    else:
        print_lines(LAB.report(result))
    return 130 if result.interrupted else 0


def epoch_log(progress: Progress, epochs: int) -> Callable[[str, dict], None]:
    """The regression's events: the bar, and seed 002's log line every 50 epochs."""
    def on_event(kind: str, info: dict) -> None:
        progress(kind, info)
        if kind == "step" and (info["step"] - 1) % 50 == 0:
            progress.write(f"Epoch {info['step'] - 1:4d}/{epochs} | Loss: {info['loss']:.6f}")
    return on_event
