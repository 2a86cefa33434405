"""`attnlab attention TEXT`: which token attends to which, for a trained GPT or MiniLM."""

from __future__ import annotations

import argparse

from attnlab.cli._runtime_args import add_runtime_args
from attnlab.cli._source_args import add_text_command, check_writable, load_source


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = add_text_command(
        subparsers, "attention", help="show the attention weights of every layer and head for a text",
        description="Run TEXT through a model and show its attention weights: rows are the tokens that "
                    "look, columns the tokens they look at. The terminal shows one head; --png draws one "
                    "head (with --layer and --head) or every layer x head; --html writes a page to explore.")
    p.add_argument("--layer", type=int, default=None, help="layer, counting from 0 (terminal default: 0)")
    p.add_argument("--head", type=int, default=None, help="head, counting from 0 (terminal default: 0)")
    p.add_argument("--png", metavar="FILE", help="save a heatmap image (.png, .svg or .pdf)")
    p.add_argument("--html", metavar="FILE", help="save one self-contained interactive page")
    p.add_argument("--color", action="store_true", help="terminal: 256-colour cells instead of shaded blocks")
    add_runtime_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from attnlab.look.capture import attention_maps  # attnlab.viz loads the renderers: only when run

    check_writable(args.png)
    check_writable(args.html)
    source = load_source(args)
    source.check_layer_head(args.layer, args.head)
    idx, tokens = source.encode(args.text)
    maps = attention_maps(source.model, idx)
    if args.layer is not None:  # only that layer: it becomes layer 0 of what is drawn
        name = list(maps)[args.layer]
        maps = {name: maps[name]}
    title = f"{source.name}: {args.text[:60]}"
    if args.png:
        from attnlab.viz.png import plot_grid, plot_head

        if args.head is not None:
            plot_head(maps, tokens, layer=0, head=args.head, path=args.png, strict_font=True)
        else:
            plot_grid(maps, tokens, path=args.png, strict_font=True)
        print(f"wrote {args.png}")
    if args.html:
        from attnlab.viz.html import save_html

        save_html(args.html, maps, tokens, title=title)
        print(f"wrote {args.html}")
    if not (args.png or args.html):
        from attnlab.viz.terminal import render_terminal

        print(render_terminal(maps, tokens, layer=0, head=args.head or 0, color=args.color))
    return 0
