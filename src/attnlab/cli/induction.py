"""`attnlab induction`: train attention-only models of 1 and 2 layers, watch an induction head
form in the 2-layer one, and ablate it to show that it does the in-context work.

    attnlab induction                          # both models, the defaults (a few minutes on a CPU)
    attnlab induction --layers 2 --steps 500   # only the 2-layer model, shorter
    attnlab induction --json                   # the numbers only, as one JSON object

Writes OUT_DIR/report.md, OUT_DIR/summary.json and, per model, OUT_DIR/layers-L/metrics.jsonl and
induction.png (see attnlab.labs.induction.lab).
"""

from __future__ import annotations

import argparse

from attnlab.cli._lab import add_settings, print_json, print_lines, settings_from_args
from attnlab.cli._runtime_args import add_runtime_args, use_runtime
from attnlab.labs.induction.config import LAB, LabConfig
from attnlab.labs.shape import quiet


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "induction", help="train 1- and 2-layer attention-only models and watch an induction head form",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_settings(p, LabConfig)
    p.add_argument("--json", action="store_true", help="print only the summary as JSON")
    add_runtime_args(p, small=True)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = settings_from_args(LabConfig, args)
    use_runtime(args)
    result = LAB.run(cfg, quiet if args.json else print_progress)
    if args.json:
        print_json(result)
    else:
        print_lines(LAB.report(result))
    return 0


def print_progress(kind: str, info: dict) -> None:
    if kind == "start":
        print(f"{info['layers']}-layer model: {info['parameters']:,} parameters, {info['max_iters']} steps")
    elif kind == "eval":
        il, ih, iscore = info["induction"]
        pl, ph, pscore = info["previous"]
        print(f"  step {info['step']:>5}  loss ratio {info['loss_ratio']:.2f}  best induction {il}.{ih} "
              f"{iscore:.2f}  best previous {pl}.{ph} {pscore:.2f}", flush=True)
