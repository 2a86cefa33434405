"""`attnlab lens TEXT --run RUN`: the logit lens, what the model would predict after each layer."""

from __future__ import annotations

import argparse

from attnlab.cli._help import HelpFormatter
from attnlab.cli._lab import add_settings, print_lines, settings_from_args
from attnlab.cli._runtime_args import add_runtime_args, use_runtime
from attnlab.cli._source_args import check_writable, load_source, print_json
from attnlab.labs.lens.settings import LAB, LensSettings


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "lens", help="the logit lens: the next-token guess after the embedding and after each block",
        description="Run TEXT through a GPT run and put the residual stream after the embedding and after "
                    "each block through the model's own ln_f and lm_head: per position and layer, the top "
                    "guess for the next token and the probability of the token that really comes next. "
                    "The last layer is the model's own prediction.",
        formatter_class=HelpFormatter)
    p.add_argument("text", nargs="?", default=argparse.SUPPRESS, help="the text to look at (or --text)")
    add_settings(p, LensSettings)
    p.add_argument("--png", metavar="FILE", help="save a heatmap of p(next) (layers x positions): .png, .svg, .pdf")
    p.add_argument("--html", metavar="FILE", help="save the same heatmap as one self-contained HTML page")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    add_runtime_args(p)
    p.set_defaults(func=run, model=None)


def run(args: argparse.Namespace) -> int:
    settings = settings_from_args(LensSettings, args)
    check_writable(args.png)
    check_writable(args.html)
    use_runtime(args)
    args.run = settings.run  # (a --config file may name it)
    result = LAB.run(settings, opened=load_source(args))
    lens = result.lens
    title = f"{result.model}: p(next token) by layer"
    labels = [f"{t}:{tok}" for t, tok in enumerate(lens.tokens)]
    if args.png:
        from attnlab.viz.heatmap import plot_matrix

        plot_matrix(lens.p_next, lens.layers, labels, title=title, label="p(the real next token)", vmax=1.0,
                    xlabel="position", ylabel="layer", path=args.png)
    if args.html:
        from attnlab.viz.heatmap import matrix_html, save_matrix_html

        save_matrix_html(args.html, matrix_html(lens.p_next, lens.layers, labels, title=title, vmax=1.0,
                                                note="rows: the residual stream after each layer, put through "
                                                     "ln_f and lm_head; cells: p(the token that really comes next)"))
    if args.json:
        print_json(result.to_json(), "the lens")
    else:
        print_lines(LAB.report(result))
        for path in (args.png, args.html):
            if path:
                print(f"wrote {path}")
    return 0
