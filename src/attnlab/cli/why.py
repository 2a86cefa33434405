"""`attnlab why TEXT --from it --to animal --vs street`: does attention explain? Five answers."""

from __future__ import annotations

import argparse

from attnlab.cli._help import HelpFormatter
from attnlab.cli._lab import add_settings, print_lines, settings_from_args
from attnlab.cli._runtime_args import add_runtime_args, use_runtime
from attnlab.cli._source_args import load_source, print_json
from attnlab.labs.why.settings import LAB, WhySettings

# The flags the tokens had before they were settings: --from it, --to animal, --vs street.
OLD_FLAGS = {"from_token": ("--from",), "to_token": ("--to",), "vs_token": ("--vs",)}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "why", help="one token pair, several answers: raw weight, rollout, flow, norm, ablation",
        description="How much does the token --from take from the token --to (and from a rival, --vs)? "
                    "The raw attention weight is one answer; attention rollout and flow (Abnar & Zuidema "
                    "2020) take every layer and the residual stream into account; the norm-based share "
                    "(Kobayashi et al. 2020) weighs each value by its size; on a GPT run, zeroing the best "
                    "raw head shows whether the prediction needed it. A word that occurs more than once "
                    "means its first occurrence (--from-position and the like pick a token by its place).",
        formatter_class=HelpFormatter)
    p.add_argument("text", nargs="?", default=argparse.SUPPRESS, help="the text to look at (or --text)")
    add_settings(p, WhySettings, flags=OLD_FLAGS)
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    add_runtime_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = settings_from_args(WhySettings, args)
    use_runtime(args)
    args.run, args.model = settings.run, settings.model  # (a --config file may name them)
    result = LAB.run(settings, opened=load_source(args))
    if args.json:
        print_json(result.to_json(), "the answers")
    else:
        print_lines(LAB.report(result))
    return 0
