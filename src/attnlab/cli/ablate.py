"""`attnlab ablate --run RUN (--text TEXT | --split val --batches N)`: which heads does the model need?"""

from __future__ import annotations

import argparse

from attnlab.errors import UserError
from attnlab.cli._help import HelpFormatter
from attnlab.cli._runtime_args import add_runtime_args, use_runtime
from attnlab.cli._source_args import check_writable, load_source, print_json


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "ablate", help="the loss change when each head is zeroed or replaced by its mean",
        description="For every layer x head of a GPT run, the change in next-token loss when the head's "
                    "output (before W_O) is zeroed, and when it is replaced by its mean over every position "
                    "of the batch. Positive: the model needed the head. --heads ablates a set together "
                    "(zeroed). Layers and heads count from 0.",
        formatter_class=HelpFormatter)
    p.add_argument("--run", required=True, metavar="DIR", help="a training run folder (runs/<name>) holding a GPT")
    data = p.add_mutually_exclusive_group(required=True)
    data.add_argument("--text", help="measure the loss on this text")
    data.add_argument("--split", choices=("train", "val"), help="measure on batches of the run's own split")
    p.add_argument("--batches", type=int, default=10, help="with --split: how many batches (the run's batch size)")
    p.add_argument("--seed", type=int, default=0, help="with --split: which batches (as estimate_loss draws them)")
    p.add_argument("--corpus", metavar="FILE",
                   help="with --split: the text the run was trained on, for a run whose config.json names it by "
                        "a relative path (runs made before attnlab stored absolute paths)")
    p.add_argument("--heads", metavar="L.H,...", help="also ablate these heads together, e.g. 0.1,2.3")
    p.add_argument("--png", metavar="FILE", help="save a heatmap of the zeroing loss change (layers x heads)")
    p.add_argument("--html", metavar="FILE", help="save the same heatmap as one self-contained HTML page")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    add_runtime_args(p)
    p.set_defaults(func=run, model=None)


def parse_heads(text: str) -> list[tuple[int, int]]:
    """'0.1,2.3' -> [(0, 1), (2, 3)]."""
    heads = []
    for part in text.split(","):
        layer, dot, head = part.strip().partition(".")
        if not (dot and layer.isdigit() and head.isdigit()):
            raise UserError(f"--heads: cannot read {part.strip()!r}; write LAYER.HEAD pairs, e.g. 0.1,2.3")
        heads.append((int(layer), int(head)))
    if len(set(heads)) != len(heads):
        raise UserError("--heads names a head twice")
    return heads


def format_ablation(result: dict, name: str, what: str) -> str:
    rows = result["heads"]
    lines = [f"{name}: head ablation on {what}, baseline loss {result['baseline_loss']:.4f}",
             "loss change when the head's output is zeroed / replaced by its mean (positive: the head helped)",
             f"{'layer':>5} {'head':>4} {'zero':>9} {'mean':>9}"]
    lines += [f"{r['layer']:>5} {r['head']:>4} {r['zero']:>+9.4f} {r['mean']:>+9.4f}" for r in rows]
    top, low = max(rows, key=lambda r: r["zero"]), min(rows, key=lambda r: r["zero"])
    lines.append(f"most needed: layer {top['layer']} head {top['head']} (zeroed: {top['zero']:+.4f}); "
                 f"least: layer {low['layer']} head {low['head']} ({low['zero']:+.4f})")
    if "set" in result:
        s = result["set"]
        heads = ", ".join(f"{l}.{h}" for l, h in s["heads"])
        lines.append(f"heads {heads} zeroed together: loss {s['loss']:.4f} "
                     f"({s['loss'] - result['baseline_loss']:+.4f})")
    return "\n".join(lines)


def _grid(result: dict, n_layers: int, n_heads: int) -> list[list[float]]:
    grid = [[0.0] * n_heads for _ in range(n_layers)]
    for r in result["heads"]:
        grid[r["layer"]][r["head"]] = r["zero"]
    return grid


def run(args: argparse.Namespace) -> int:
    import torch

    from attnlab.train.gpt import split_batches
    from attnlab.why.ablate import ablate_heads

    check_writable(args.png)
    check_writable(args.html)
    if args.corpus is not None and args.split is None:
        raise UserError("--corpus goes with --split (the text of the run's own split)")
    if args.batches < 1:
        raise UserError(f"--batches must be at least 1, got {args.batches}")
    use_runtime(args)
    heads = None if args.heads is None else parse_heads(args.heads)
    source = load_source(args)
    for layer, head in heads or []:
        source.check_layer_head(layer, head)
    if args.text is not None:
        idx, _ = source.encode(args.text)
        if idx.shape[1] < 2:
            raise UserError("the text must be at least two tokens long: the loss needs a next token")
        x, y, what = idx[:, :-1], idx[:, 1:], f"{idx.shape[1] - 1} next-token predictions of the text"
    else:
        from attnlab.model.memory import gpt_look_bytes, require_memory
        from attnlab.runs.checkpoint import read_run_config

        _, cfg, _ = read_run_config(args.run)
        rows = args.batches * cfg.batch_size  # split_batches stacks every batch into one (N·B, T) pair
        require_memory(gpt_look_bytes(source.model.config, rows, cfg.block_size),
                       f"--batches {args.batches} ({rows} x {cfg.block_size} tokens in one forward)",
                       hint="pass fewer --batches")
        x, y = split_batches(args.run, source.tokenizer, args.split, args.batches, args.seed, args.corpus)
        what = f"{args.batches} {args.split} batches ({x.shape[0]} x {x.shape[1]} tokens)"
    with torch.no_grad():
        result = ablate_heads(source.model, x, y, together=heads)
    title = f"{source.name}: loss change with the head zeroed"
    layers, cols = [f"layer {l}" for l in range(source.n_layers)], [f"head {h}" for h in range(source.n_heads)]
    if args.png:
        from attnlab.viz.heatmap import plot_matrix

        plot_matrix(_grid(result, source.n_layers, source.n_heads), layers, cols, title=title, center=0.0,
                    label="loss change", fmt="+.3f", path=args.png)
    if args.html:
        from attnlab.viz.heatmap import matrix_html, save_matrix_html

        save_matrix_html(args.html, matrix_html(_grid(result, source.n_layers, source.n_heads), layers, cols,
                                                title=title, center=0.0, note=f"on {what}; red: the head helped"))
    if args.json:
        print_json(result, "the ablation")
    else:
        print(format_ablation(result, source.name, what))
        for path in (args.png, args.html):
            if path:
                print(f"wrote {path}")
    return 0
