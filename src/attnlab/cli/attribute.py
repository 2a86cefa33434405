"""`attnlab attribute TEXT --run RUN`: direct logit attribution, what each part writes into LD."""

from __future__ import annotations

import argparse

from attnlab.cli._help import HelpFormatter
from attnlab.cli._lab import add_settings, print_lines, settings_from_args
from attnlab.cli._patch_output import check_outside, dumps
from attnlab.cli._runtime_args import add_runtime_args, use_runtime
from attnlab.cli._source_args import check_writable, load_source
from attnlab.labs.attribution.settings import LAB, AttributeSettings


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "attribute", help="direct logit attribution: each head's, feed-forward's and the embedding's share of LD",
        description="Split the final residual stream at --position into the embedding, each head's output "
                    "through W_O, each attention bias and each feed-forward output, and put each part through "
                    "ln_f (its scale from the actual forward, held fixed) and lm_head: its contribution to "
                    "LD = logit[answer] - logit[wrong]. The parts sum to LD. Default answer: the top next "
                    "token; default wrong: the second. Pre-LN and norm-free runs.",
        formatter_class=HelpFormatter)
    p.add_argument("text", nargs="?", default=argparse.SUPPRESS, help="the text to look at (or --text)")
    add_settings(p, AttributeSettings)
    p.add_argument("--png", metavar="FILE", help="save the heads' contributions as a layers x heads heatmap")
    p.add_argument("--html", metavar="FILE", help="save the same heatmap as one self-contained HTML page")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    add_runtime_args(p)
    p.set_defaults(func=run, model=None)


def run(args: argparse.Namespace) -> int:
    settings = settings_from_args(AttributeSettings, args)
    for path in (args.png, args.html):
        check_writable(path)
        check_outside(path, settings.run)
    use_runtime(args)
    args.run = settings.run  # (a --config file may name it)
    result = LAB.run(settings, opened=load_source(args))
    write_pictures(args, result)
    if args.json:
        print(dumps(result.to_json()))
        return 0
    print_lines(LAB.report(result))
    for path in (args.png, args.html):
        if path:
            print(f"wrote {path}")
    return 0


def write_pictures(args: argparse.Namespace, result) -> None:
    title = f"{result.model}: direct logit attribution of each head at position {result.data['position']}"
    rows, cols = [f"layer {l}" for l in range(result.n_layers)], [f"head {h}" for h in range(result.n_heads)]
    if args.png:
        from attnlab.viz.heatmap import plot_matrix

        plot_matrix(result.heads(), rows, cols, title=title, center=0.0, label="contribution to LD", fmt="+.2f",
                    path=args.png)
    if args.html:
        from attnlab.viz.heatmap import matrix_html, save_matrix_html

        save_matrix_html(args.html, matrix_html(result.heads(), rows, cols, title=title, center=0.0,
                                                note="red: the head pushes the answer over the wrong token"))
