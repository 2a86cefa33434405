"""`attnlab ablate --run RUN (--text TEXT | --split val --batches N)`: which heads does the model need?"""

from __future__ import annotations

import argparse

from attnlab.cli._help import HelpFormatter
from attnlab.cli._lab import add_settings, print_lines, settings_from_args
from attnlab.cli._runtime_args import add_runtime_args, use_runtime
from attnlab.cli._source_args import check_writable, load_source, print_json
from attnlab.errors import UserError
from attnlab.labs.ablation.settings import LAB, AblateSettings


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "ablate", help="the loss change when each head is zeroed or replaced by its mean",
        description="For every layer x head of a GPT run, the change in next-token loss when the head's "
                    "output (before W_O) is zeroed, and when it is replaced by its mean over every position "
                    "of the batch. Positive: the model needed the head. --heads ablates a set together "
                    "(zeroed). Layers and heads count from 0.",
        formatter_class=HelpFormatter)
    add_settings(p, AblateSettings)
    p.add_argument("--png", metavar="FILE", help="save a heatmap of the zeroing loss change (layers x heads)")
    p.add_argument("--html", metavar="FILE", help="save the same heatmap as one self-contained HTML page")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    add_runtime_args(p)
    p.set_defaults(func=run, model=None)


def run(args: argparse.Namespace) -> int:
    settings = settings_from_args(AblateSettings, args)
    for path in (args.png, args.html):
        check_writable(path)
        if path and not settings.each:
            raise UserError("--png and --html draw every head's row: leave out --no-each")
    use_runtime(args)
    args.run = settings.run  # (a --config file may name it)
    result = LAB.run(settings, opened=load_source(args))
    write_pictures(args, result)
    if args.json:
        print_json(result.to_json(), "the ablation")
        return 0
    print_lines(LAB.report(result))
    for path in (args.png, args.html):
        if path:
            print(f"wrote {path}")
    return 0


def write_pictures(args: argparse.Namespace, result) -> None:
    title = f"{result.model}: loss change with the head zeroed"
    layers, cols = [f"layer {l}" for l in range(result.n_layers)], [f"head {h}" for h in range(result.n_heads)]
    if args.png:
        from attnlab.viz.heatmap import plot_matrix

        plot_matrix(result.grid(), layers, cols, title=title, center=0.0, label="loss change", fmt="+.3f",
                    path=args.png)
    if args.html:
        from attnlab.viz.heatmap import matrix_html, save_matrix_html

        save_matrix_html(args.html, matrix_html(result.grid(), layers, cols, title=title, center=0.0,
                                                note=f"on {result.what}; red: the head helped"))
