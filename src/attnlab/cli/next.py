"""`attnlab next --run RUN --prompt TEXT`: the distribution the next token is drawn from, and what
--temperature, --top-k and --top-p do to it (the web lab's Sample panel)."""

from __future__ import annotations

import argparse

from attnlab.cli._help import HelpFormatter
from attnlab.cli._lab import add_settings, print_json, print_lines, settings_from_args
from attnlab.cli._runtime_args import add_runtime_args, use_runtime
from attnlab.cli._source_args import load_source
from attnlab.cli.generate import note
from attnlab.labs.sampling.settings import NEXT, NextSettings


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "next", help="the next-token distribution sampling draws from, and what top-k and top-p cut away",
        description="Run the prompt through a GPT run and show the likeliest next tokens: p, each one's "
                    "probability at --temperature, and what sampling gives it once --top-k and --top-p have cut "
                    "the rest away (renormalised). The defaults are `attnlab generate`'s: this is the "
                    "distribution it draws its first token from. Temperature 0 is greedy.",
        formatter_class=HelpFormatter)
    add_settings(p, NextSettings)
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    add_runtime_args(p)
    p.set_defaults(func=run, model=None)


def run(args: argparse.Namespace) -> int:
    settings = settings_from_args(NextSettings, args)
    use_runtime(args)
    args.run = settings.run  # (a --config file may name it)
    result = NEXT.run(settings, note, opened=load_source(args))
    if args.json:
        print_json(result)
    else:
        print_lines(NEXT.report(result))
    return 0
