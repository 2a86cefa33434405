"""`attnlab patch --run RUN --clean TEXT --corrupt TEXT`: which activations carry the answer?"""

from __future__ import annotations

import argparse

from attnlab.cli._help import HelpFormatter
from attnlab.cli._lab import add_settings, print_lines, settings_from_args
from attnlab.cli._patch_output import check_outside, dumps
from attnlab.cli._runtime_args import add_runtime_args, use_runtime
from attnlab.cli._source_args import check_writable, load_source
from attnlab.labs.patching.settings import LAB, PatchSettings


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "patch", help="activation and path patching: which activations carry the answer from clean to corrupt",
        description="Run the corrupt text with one activation of the clean text's run put in its place, and "
                    "read the logit difference LD = logit[answer] - logit[wrong] at --position: each cell is "
                    "(LD_patched - LD_corrupt) / (LD_clean - LD_corrupt), 1 = the clean answer restored, 0 = no "
                    "effect. The texts must have the same number of tokens. Default answer: the clean run's top "
                    "next token; default wrong: the corrupt run's. --path patches one path instead: "
                    "0.3->1.2.k sends head 0.3's clean output only into head 1.2's keys (.q queries, .v values, "
                    "L.* every head of a layer).",
        formatter_class=HelpFormatter)
    add_settings(p, PatchSettings)
    p.add_argument("--png", metavar="FILE", help="save the tables as heatmaps: .png, .svg, .pdf")
    p.add_argument("--html", metavar="FILE", help="save the same heatmaps as one self-contained HTML page")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the tables")
    add_runtime_args(p)
    p.set_defaults(func=run, model=None)


def run(args: argparse.Namespace) -> int:
    settings = settings_from_args(PatchSettings, args)
    for path in (args.png, args.html):
        check_writable(path)
        check_outside(path, settings.run)
    use_runtime(args)
    args.run = settings.run  # (a --config file may name it)
    result = LAB.run(settings, opened=load_source(args))
    if "path" not in result.data:
        write_pictures(args, result)
    if args.json:
        print(dumps(result.to_json()))
        return 0
    print_lines(LAB.report(result))
    for path in (args.png, args.html) if "path" not in result.data else ():
        if path:
            print(f"wrote {path}")
    return 0


def write_pictures(args: argparse.Namespace, result) -> None:
    from attnlab.labs.patching.run import panels

    shown = panels(result)
    title = f"{result.model}: activation patching ({result.direction}), LD read at position {result.data['position']}"
    if args.png:
        from attnlab.viz.heatmap import plot_matrices

        plot_matrices(shown, title=title, center=0.0, label="restored share of LD", fmt=".2f", path=args.png)
    if args.html:
        from attnlab.viz.heatmap import matrices_html, save_matrix_html

        save_matrix_html(args.html, matrices_html(shown, title=title, center=0.0,
                                                  note="each cell: (LD_patched - LD_corrupt) / (LD_clean - "
                                                       "LD_corrupt); 1 = the clean answer restored"))
