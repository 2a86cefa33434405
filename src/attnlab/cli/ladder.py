"""`attnlab ladder`: what each part of the transformer buys, as one command.

    attnlab ladder                                   # the lecture's six rungs on shakespeare (CPU)
    attnlab ladder --corpus korean-law               # the same ladder on another corpus
    attnlab ladder --steps 500 --out-dir runs/quick  # a quick look
    attnlab ladder --scaled --device cuda            # + the lecture's last model (minutes on a GPU)
    attnlab ladder --json                            # {"rungs": [{"name", "params", "val_loss", ...}]}

Every rung is trained with the same data, seed, batches, steps and learning rate; each is an
ordinary run folder under the ladder folder. Running the same command again reuses the rungs
that finished and continues one stopped by Ctrl-C. The rungs, the lecture's settings and the
folder layout are described in `attnlab.labs.ladder.rungs`.
"""

from __future__ import annotations

import argparse
import sys

from attnlab.cli._lab import add_settings, print_json, print_lines, settings_from_args
from attnlab.cli._runtime_args import add_runtime_args, use_runtime
from attnlab.labs.ladder.settings import LAB, LadderSettings


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "ladder", help="train the lecture's ablation ladder (bigram -> GPT) and compare the validation losses",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_settings(p, LadderSettings)
    add_runtime_args(p, device=True)
    p.add_argument("--json", action="store_true", help="print the results as JSON (and nothing else) on stdout")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = settings_from_args(LadderSettings, args)
    runtime = use_runtime(args, training=True)  # every rung's device, dtype and threads
    out = sys.stderr if args.json else sys.stdout  # --json: stdout holds the JSON alone

    def say(line: str) -> None:
        print(line, file=out)

    progress = LadderProgress(say, out, enabled=not args.no_progress)
    try:
        result = LAB.run(settings, progress, runtime=runtime, device=args.device)
    finally:
        progress.close()
    if args.json:
        from attnlab.labs.ladder.lab import interrupted_line

        print_json(result)
        if result.interrupted:
            say(interrupted_line(result))
    else:
        print_lines(LAB.report(result))
    return 130 if result.interrupted else 0


class LadderProgress:
    """One tqdm bar across the whole ladder ("rung 3/6 multi-head", steps of every rung) and a
    line per finished rung, from run_ladder's events (and the training events inside them)."""

    def __init__(self, say, out, enabled: bool):
        self.say, self.out, self.enabled, self.bar = say, out, enabled, None
        self.offset, self.previous = 0, None  # steps of the rungs already done; the last val loss

    def __call__(self, kind: str, info: dict) -> None:
        if kind == "ladder" and self.enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=info["total_steps"], unit="step", dynamic_ncols=True, file=sys.stderr)
        elif kind == "rung" and self.bar is not None:
            self.bar.set_description(f"rung {info['index']}/{info['of']} {info['name']}")
        elif kind in ("start", "step") and self.bar is not None:
            self.bar.update(self.offset + info["step"] - self.bar.n)
            if "loss" in info:
                self.bar.set_postfix_str(f"loss {info['loss']:.3f}", refresh=False)
        elif kind == "rung_done":
            self._done(info)

    def _done(self, info: dict) -> None:
        self.offset += info["max_iters"]
        if self.bar is not None:
            self.bar.update(self.offset - self.bar.n)
        record = info["record"]
        loss = record["val_loss"]
        if loss is None:
            return
        delta = "" if self.previous is None else f" ({loss - self.previous:+.3f})"
        line = (f"rung {info['index']}/{info['of']} {record['name']}: val loss {loss:.3f}{delta}, "
                f"{record['seconds']:.0f} s{' (reused)' if info['reused'] else ''}")
        self.bar.write(line, file=self.out) if self.bar is not None else self.say(line)
        self.previous = loss

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
