"""`attnlab lens TEXT --run RUN`: the logit lens, what the model would predict after each layer."""

from __future__ import annotations

import argparse

from attnlab.errors import UserError
from attnlab.cli._help import HelpFormatter
from attnlab.cli._runtime_args import add_runtime_args, use_runtime
from attnlab.cli._source_args import check_writable, load_source, print_json

CELL = 13  # characters per layer column


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "lens", help="the logit lens: the next-token guess after the embedding and after each block",
        description="Run TEXT through a GPT run and put the residual stream after the embedding and after "
                    "each block through the model's own ln_f and lm_head: per position and layer, the top "
                    "guess for the next token and the probability of the token that really comes next. "
                    "The last layer is the model's own prediction.",
        formatter_class=HelpFormatter)
    p.add_argument("text", help="the text to look at")
    p.add_argument("--run", required=True, metavar="DIR", help="a training run folder (runs/<name>) holding a GPT")
    p.add_argument("--png", metavar="FILE", help="save a heatmap of p(next) (layers x positions): .png, .svg, .pdf")
    p.add_argument("--html", metavar="FILE", help="save the same heatmap as one self-contained HTML page")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    add_runtime_args(p)
    p.set_defaults(func=run, model=None)


def _cell(top: str, p: float | None) -> str:
    from attnlab.viz.weights import visible

    return f"{visible(top)[:5]:>5} {'-' if p is None else f'{p:.3f}':>5}"


def format_lens(lens, name: str) -> str:
    """Rows are positions, columns layers; a cell is the top guess and p(the real next token)."""
    from attnlab.viz.weights import visible

    lines = [f"{name}: logit lens of {len(lens.tokens)} tokens through {len(lens.layers) - 1} blocks",
             "each cell: the top guess for the next token, then the probability of the token that really comes next",
             f"{'pos':>4} {'token':<8} {'next':<8}|" + "".join(f"{n:>{CELL}}" for n in lens.layers)]
    for t, token in enumerate(lens.tokens):
        nxt = visible(lens.tokens[t + 1]) if t + 1 < len(lens.tokens) else ""
        cells = "".join(f"{_cell(lens.top[l][t], lens.p_next[l][t]):>{CELL}}" for l in range(len(lens.layers)))
        lines.append(f"{t:>4} {visible(token)[:8]:<8} {nxt[:8]:<8}|{cells}")
    means = [[p for p in row if p is not None] for row in lens.p_next]
    lines.append(f"{'mean p(next)':<22}|" + "".join(f"{sum(m) / len(m):>{CELL}.3f}" for m in means))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from attnlab.why.lens import logit_lens

    check_writable(args.png)
    check_writable(args.html)
    use_runtime(args)
    source = load_source(args)
    idx, _ = source.encode(args.text)
    if idx.shape[1] < 2:
        raise UserError("the text must be at least two tokens long: the lens compares each guess with the next token")
    lens = logit_lens(source.model, idx, source.tokenizer)
    title = f"{source.name}: p(next token) by layer"
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
        print_json(lens.to_dict(), "the lens")
    else:
        print(format_lens(lens, source.name))
        for path in (args.png, args.html):
            if path:
                print(f"wrote {path}")
    return 0
