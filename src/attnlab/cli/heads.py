"""`attnlab heads`: which layer and head does what?

    attnlab heads TEXT --run RUN --from it --to animal    rank heads by the weight from one token to another
    attnlab heads --detect --run RUN [--json] [--png F]   score every head as a previous-token, induction
                                                          and duplicate-token head (attnlab.labs.induction.scores)
"""

from __future__ import annotations

import argparse

from attnlab.errors import UserError
from attnlab.cli._runtime_args import add_runtime_args
from attnlab.labs.induction.config import THRESHOLD
from attnlab.cli._source_args import (add_pair_flags, add_text_command, check_writable, find_pair, load_source,
                                      print_json)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = add_text_command(
        subparsers, "heads", help="rank every layer x head by the weight from one token to another (or --detect)",
        description="Run TEXT through a model and rank every (layer, head) by how much the token --from "
                    "attends to the token --to (and, with --vs, to a rival token). Layers and heads count "
                    "from 0. A word that occurs more than once means its first occurrence. With --detect "
                    "(no TEXT, a GPT from --run): run N random tokens repeated twice and score every head "
                    "as a previous-token, induction and duplicate-token head.", text_optional=True)
    add_pair_flags(p, required=False)
    p.add_argument("--top", type=int, default=10, help="how many heads to list (0: all)")
    detect = p.add_argument_group("head detection (--detect)")
    detect.add_argument("--detect", action="store_true", help="score every head on a repeated random sequence")
    detect.add_argument("--n", type=int, default=None,
                        help="length of the random sequence (default: min(50, context // 2, vocabulary))")
    detect.add_argument("--batch", type=int, default=16, help="random sequences averaged over")
    detect.add_argument("--bos", type=int, default=None, metavar="ID",
                        help="a token id put first (GPT-2: 50256, as TransformerLens does)")
    detect.add_argument("--seed", type=int, default=0, help="seed of the random tokens")
    detect.add_argument("--json", action="store_true", help="print the scores as JSON")
    detect.add_argument("--png", metavar="FILE", help="save the three scores as layer x head heatmaps")
    detect.add_argument("--threshold", type=float, default=THRESHOLD,
                        help=f"a head counts as found above this score (default: {THRESHOLD}, the induction lab's)")
    add_runtime_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.detect:
        return run_detect(args)
    for flag, value in (("--json", args.json), ("--png", args.png), ("--n", args.n), ("--bos", args.bos)):
        if value:
            raise UserError(f"{flag} goes with --detect")
    if args.text is None or args.src is None or args.dst is None:
        raise UserError("heads needs TEXT, --from and --to (or --detect)")
    return run_rank(args)


def run_rank(args: argparse.Namespace) -> int:
    from attnlab.look.capture import attention_maps  # attnlab.viz loads the renderers: only when run

    if args.top < 0:
        raise UserError(f"--top must be >= 0, got {args.top}")
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


def detect_length(args: argparse.Namespace, context: int, vocab: int, name: str) -> int:
    """--n, or its default; it must fit twice in the context (after a BOS) and in the vocabulary."""
    room = (context - (args.bos is not None)) // 2
    n = min(50, room, vocab) if args.n is None else args.n
    if not 2 <= n <= min(room, vocab):
        raise UserError(f"--n must be in 2..{min(room, vocab)} for {name} (context {context}, "
                       f"vocabulary {vocab}), got {n}")
    return n


def best_line(name: str, layer: int, head: int, score: float, threshold: float) -> str:
    """The best head by one score, and whether it clears the threshold: a best head under it is not
    a head of that kind (a model that formed none still has a best)."""
    verdict = (f"above the {threshold} threshold" if score >= threshold
               else f"under the {threshold} threshold: no {name} head found")
    return f"best {name} head: layer {layer} head {head} ({score:.3f}), {verdict}"


def run_detect(args: argparse.Namespace) -> int:
    from attnlab.labs.induction.scores import SCORES, detect_heads

    if args.run is None:
        raise UserError("--detect needs --run (a GPT: a training run or an imported GPT-2)")
    if args.text is not None or args.src is not None or args.dst is not None:
        raise UserError("--detect makes its own tokens: leave out TEXT, --from and --to")
    if args.batch < 1:
        raise UserError(f"--batch must be >= 1, got {args.batch}")
    if not 0.0 < args.threshold < 1.0:
        raise UserError(f"--threshold must be in (0, 1), got {args.threshold}")
    check_writable(args.png)
    source = load_source(args)
    vocab = source.model.config.vocab_size
    n = detect_length(args, source.max_len, vocab, source.name)
    if args.bos is not None and not 0 <= args.bos < vocab:
        raise UserError(f"--bos must be a token id in 0..{vocab - 1}, got {args.bos}")
    from attnlab.model.memory import gpt_look_bytes, require_memory

    length = 2 * n + (args.bos is not None)
    require_memory(gpt_look_bytes(source.model.config, args.batch, length),
                   f"--batch {args.batch} ({args.batch} x {length} tokens in one forward)",
                   hint="pass a smaller --batch")
    scores = detect_heads(source.model, n, batch=args.batch, seed=args.seed, bos=args.bos)
    if args.png:
        from attnlab.labs.induction.report import plot_head_scores
        from attnlab.viz.png import save_figure

        save_figure(plot_head_scores(scores, title=f"{source.name}: {n} random tokens, repeated"), args.png)
    if args.json:
        print_json({"heads": scores.rows()}, "the head scores")
        return 0
    print(f"{source.name}: {args.batch} sequences of {n} random tokens repeated twice"
          + ("" if args.bos is None else f", after token {args.bos}"))
    print(f"{'layer':>5}  {'head':>4}  " + "  ".join(f"{name:>9}" for name in SCORES))
    for row in scores.rows():
        print(f"{row['layer']:>5}  {row['head']:>4}  " + "  ".join(f"{row[name]:>9.3f}" for name in SCORES))
    for name in SCORES:
        print(best_line(name, *scores.best(name), args.threshold))
    if args.png:
        print(f"wrote {args.png}")
    return 0
