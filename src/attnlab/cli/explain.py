"""`attnlab explain`: every number of the attention arithmetic, step by step.

    attnlab explain                                   seed 004 by hand (나는 사과를 먹었다)
    attnlab explain --q "[[1,0],[0,1]]" --k ... --v ...   any small vectors
    attnlab explain --weights "[0.1,0.8,0.1]" --values "[[10,10],[100,100],[5,5]]"   seed 000
    attnlab explain --run runs/<name> --text "..." --layer 0 --head 1 [--token 2]
"""

from __future__ import annotations

import argparse
import json
import math
from typing import TYPE_CHECKING

from attnlab.errors import UserError
from attnlab.cli._help import HelpFormatter
from attnlab.cli._runtime_args import add_runtime_args, use_runtime
from attnlab.cli._source_args import add_source_flags, load_source

if TYPE_CHECKING:
    import torch

    from attnlab.explanation import Explanation


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "explain", help="show every step of attention with real numbers",
        description="With no arguments: seed 004's hand calculation (Q, K, V of 나는 사과를 먹었다, no "
                    "scaling) done by the real code. --q/--k/--v (or --json FILE) for your own vectors; "
                    "--weights/--values for seed 000's weighted sum; --run or --model with --text, "
                    "--layer and --head for the numbers inside a model. Matrices are JSON lists, "
                    "e.g. '[[1,0,0],[0,1,0]]', or rows split by ';', e.g. '1,0,0; 0,1,0'.",
        formatter_class=HelpFormatter)
    p.add_argument("--q", help="queries, one row per token")
    p.add_argument("--k", help="keys, one row per token")
    p.add_argument("--v", help="values, one row per token")
    p.add_argument("--weights", help="attention weights (one row per query) for the weighted-sum form")
    p.add_argument("--values", help="value vectors (one row per token) for the weighted-sum form")
    p.add_argument("--json", metavar="FILE", help='a JSON file {"q", "k", "v"} or {"weights", "values"}, '
                                                  'optionally with "tokens" and "scale"')
    p.add_argument("--tokens", help="comma-separated token labels for the rows")
    p.add_argument("--scale", type=float, default=None, help="multiply the scores by this number (unset: 1/sqrt(D))")
    p.add_argument("--no-scale", action="store_true", help="do not scale the scores (seed 004's way)")
    p.add_argument("--causal", action="store_true", help="mask the future (a GPT's attention)")
    add_source_flags(p, required=False)
    p.add_argument("--text", help="with --run/--model: the text to explain")
    p.add_argument("--layer", type=int, default=0, help="with --run/--model: the layer, from 0")
    p.add_argument("--head", type=int, default=0, help="with --run/--model: the head, from 0")
    p.add_argument("--token", type=int, default=None, help="show only this query token's row (from 0)")
    p.add_argument("--decimals", type=int, default=3, help="digits after the decimal point")
    add_runtime_args(p)
    p.set_defaults(func=run)


def parse_matrix(text: str, flag: str) -> torch.Tensor:
    """'[[1,0],[0,1]]' or '1,0; 0,1' -> a (rows, cols) float tensor; a flat list is one row."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        try:
            data = [[float(x) for x in row.replace(",", " ").split()] for row in text.split(";") if row.strip()]
        except ValueError:
            raise UserError(f"{flag}: cannot read {text!r} as numbers; write e.g. '[[1,0],[0,1]]'") from None
    return to_matrix(data, flag)


def to_matrix(data: object, flag: str) -> torch.Tensor:
    import torch

    try:
        t = torch.tensor(data, dtype=torch.float32)
    except (TypeError, ValueError):
        raise UserError(f"{flag} must be a list of numbers or of equal-length rows") from None
    if t.dim() == 1:
        t = t.unsqueeze(0)
    if t.dim() != 2 or t.numel() == 0:
        raise UserError(f"{flag} must be a non-empty table of numbers (rows of equal length)")
    if not torch.isfinite(t).all():
        raise UserError(f"{flag} holds a NaN or an infinity")
    return t


def check_scale(value: object, where: str) -> float | None:
    """A scale is a finite number (None: unset, 1/sqrt(D)); NaN would make every weight NaN."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise UserError(f"{where} must be a finite number, got {value!r}")
    return float(value)


def check_labels(value: object, where: str) -> list[str]:
    """Token labels from a JSON file: a list of strings."""
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise UserError(f"{where} must be a list of strings (one label per row), got {value!r}"[:300])
    return value


def check_token(token: int | None, n: int) -> None:
    if token is not None and not 0 <= token < n:
        raise UserError(f"--token {token} is out of range: there are tokens 0..{n - 1}")


def run(args: argparse.Namespace) -> int:
    from attnlab.look.explain import SEED_004, explain_attention
    from attnlab.viz.explain_text import contribution_sentence, format_explanation

    if args.decimals < 0 or args.decimals > 10:
        raise UserError(f"--decimals must be in 0..10, got {args.decimals}")
    use_runtime(args)
    vectors = any(x is not None for x in (args.q, args.k, args.v, args.weights, args.values, args.json))
    model_mode = args.run is not None or args.model is not None
    if vectors and model_mode:
        raise UserError("give vectors (--q/--k/--v, --weights/--values, --json) or a model (--run/--model), not both")
    tokens = None if args.tokens is None else [t.strip() for t in args.tokens.split(",")]
    if model_mode:
        ex = model_explanation(args)
    elif vectors:
        ex = vector_explanation(args, tokens)
    else:
        print("Seed 004: 나는 사과를 먹었다 (I ate an apple), computed by hand without scaling, here by "
              "attnlab's attention().\nThe learner's numbers: softmax([1, 1, 0]) = [0.422, 0.422, 0.156] "
              "(0.1554 rounded up), new V of 나는 = [0.211, 0.211, 0.078].\n")
        ex = explain_attention(SEED_004["q"], SEED_004["k"], SEED_004["v"], scale=1.0, tokens=SEED_004["tokens"])
        check_token(args.token, 3)
    print(format_explanation(ex, token=args.token, decimals=args.decimals))
    if "share" in ex.names():  # the weighted-sum form: what the raw weights leave out
        rows = range(ex["weights"].shape[0]) if args.token is None else [args.token]
        print("\n" + "\n".join(contribution_sentence(ex, row) for row in rows))
    return 0


def model_explanation(args: argparse.Namespace) -> Explanation:
    """--run/--model with --text: the named points of one layer and head."""
    from attnlab.look.explain import explain_model

    if args.text is None:
        raise UserError("--run/--model need --text")
    source = load_source(args)
    source.check_layer_head(args.layer, args.head)
    idx, tokens = source.encode(args.text)
    check_token(args.token, len(tokens))
    ex = explain_model(source.model, idx, args.layer, args.head, tokens=tokens)
    ex.title = f"{source.name}, {ex.title}"
    return ex


def vector_explanation(args: argparse.Namespace, tokens: list[str] | None) -> Explanation:
    """--q/--k/--v, --weights/--values or --json FILE: attention (or the weighted sum) on them."""
    import torch

    from attnlab.io import JSON_LIMIT, read_text_limited
    from attnlab.look.explain import explain_attention, explain_weighted_sum

    data: dict = {}
    if args.json is not None:
        try:
            data = json.loads(read_text_limited(args.json, JSON_LIMIT, "the --json file"))
        except UnicodeDecodeError:
            raise UserError(f"{args.json} is not valid JSON (not UTF-8 text)") from None
        except json.JSONDecodeError as exc:
            raise UserError(f"{args.json} is not valid JSON ({exc.msg}, line {exc.lineno})") from None
        if not isinstance(data, dict):
            raise UserError(f"{args.json} must hold a JSON object with q/k/v or weights/values")
        tokens = check_labels(data["tokens"], f"{args.json}: tokens") if "tokens" in data else tokens
    get = {name: parse_matrix(getattr(args, name), f"--{name}") if getattr(args, name) is not None
           else to_matrix(data[name], f"{args.json}: {name}") if name in data else None
           for name in ("q", "k", "v", "weights", "values")}
    if get["weights"] is not None or get["values"] is not None:
        if get["weights"] is None or get["values"] is None:
            raise UserError("the weighted-sum form needs both --weights and --values")
        check_token(args.token, get["weights"].shape[0])
        if tokens is not None and len(tokens) != get["values"].shape[0]:
            raise UserError(f"{len(tokens)} token labels for {get['values'].shape[0]} rows of values")
        return explain_weighted_sum(get["weights"], get["values"], tokens=tokens)
    q, k, v = get["q"], get["k"], get["v"]
    if q is None or k is None or v is None:
        raise UserError("give all three of --q, --k and --v")
    if tokens is not None and len(tokens) != q.shape[0]:
        raise UserError(f"{len(tokens)} --tokens for {q.shape[0]} rows of --q")
    scale = 1.0 if args.no_scale else check_scale(args.scale, "--scale") if args.scale is not None \
        else check_scale(data.get("scale"), f"{args.json}: scale")
    T, S = q.shape[0], k.shape[0]
    if args.causal and T > S:
        raise UserError(f"--causal needs at least as many keys as queries (the last query is the last key), "
                        f"got {T} queries and {S} key{'' if S == 1 else 's'}: the first {T - S} would see no key")
    mask = torch.ones(T, S, dtype=torch.bool).tril(diagonal=S - T) if args.causal else None
    check_token(args.token, T)
    return explain_attention(q, k, v, mask=mask, scale=scale, tokens=tokens)
