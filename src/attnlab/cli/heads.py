"""`attnlab heads TEXT --from it --to animal`: which layer and head links one token to another?"""

from __future__ import annotations

import argparse

from attnlab.cli import CLIError
from attnlab.cli._viz_source import add_pair_flags, add_text_command, find_pair, load_source


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = add_text_command(
        subparsers, "heads", help="rank every layer x head by the weight from one token to another",
        description="Run TEXT through a model and rank every (layer, head) by how much the token --from "
                    "attends to the token --to (and, with --vs, to a rival token). Layers and heads count "
                    "from 0. A word that occurs more than once means its first occurrence.")
    add_pair_flags(p)
    p.add_argument("--top", type=int, default=10, help="how many heads to list (0: all)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from attnlab.viz.capture import attention_maps  # attnlab.viz loads the renderers: only when run

    if args.top < 0:
        raise CLIError(f"--top must be >= 0, got {args.top}")
    source = load_source(args)
    idx, tokens = source.encode(args.text)
    i, j, k = find_pair(tokens, args)
    maps = attention_maps(source.model, idx)
    rows = []  # (weight to --to, weight to --vs, layer, head)
    for layer, weights in enumerate(maps.values()):
        for head in range(weights.shape[1]):
            w = weights[0, head, i]  # (S,): where token i looks
            rows.append((w[j].item(), None if k is None else w[k].item(), layer, head))
    rows.sort(key=lambda r: -r[0])
    shown = rows if args.top == 0 else rows[:args.top]
    print(f"{source.name}: weight from {tokens[i]!r} (token {i}) to {tokens[j]!r} (token {j})"
          + ("" if k is None else f" vs {tokens[k]!r} (token {k})")
          + f", {len(rows)} heads ranked")
    print(f"{'rank':>4}  {'layer':>5}  {'head':>4}  {tokens[j][:10]:>10}" + ("" if k is None else f"  {tokens[k][:10]:>10}"))
    for rank, (w_to, w_vs, layer, head) in enumerate(shown, 1):
        print(f"{rank:>4}  {layer:>5}  {head:>4}  {w_to:>10.3f}" + ("" if w_vs is None else f"  {w_vs:>10.3f}"))
    return 0
