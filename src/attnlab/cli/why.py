"""`attnlab why TEXT --from it --to animal --vs street`: does attention explain? Five answers."""

from __future__ import annotations

import argparse

from attnlab.cli._runtime_args import add_runtime_args, use_runtime
from attnlab.cli._source_args import add_pair_flags, add_text_command, find_pair, load_source, print_json


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = add_text_command(
        subparsers, "why", help="one token pair, several answers: raw weight, rollout, flow, norm, ablation",
        description="How much does the token --from take from the token --to (and from a rival, --vs)? "
                    "The raw attention weight is one answer; attention rollout and flow (Abnar & Zuidema "
                    "2020) take every layer and the residual stream into account; the norm-based share "
                    "(Kobayashi et al. 2020) weighs each value by its size; on a GPT run, zeroing the best "
                    "raw head shows whether the prediction needed it. A word that occurs more than once "
                    "means its first occurrence.")
    add_pair_flags(p)
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    add_runtime_args(p)
    p.set_defaults(func=run)


def _against(to: float, vs: float | None, b: str | None) -> str:
    """How the --to value compares with the --vs value, in words."""
    if vs is None:
        return ""
    if vs <= 0:
        return f"; {b}: nothing"
    ratio = to / vs
    if 0.8 <= ratio <= 1.25:
        return f"; about the same for {b} ({ratio:.2f}x)"
    return f"; {ratio:.1f}x {b}" if ratio > 1 else f"; less than {b} ({ratio:.2f}x)"


def _verdict(dloss: float, small: float = 0.05) -> str:
    if dloss > small:
        return "the prediction needed that head"
    if dloss < -small:
        return "the guess got better without it"
    return "it hardly mattered"


def readings(answer: dict) -> list[tuple[str, str, float | None, float | None, str]]:
    """(method, where, value for --to, value for --vs, one-line reading) for each answer."""
    tok = answer["tokens"]
    f, a = repr(tok[answer["from"]]), repr(tok[answer["to"]])
    b = None if answer["vs"] is None else repr(tok[answer["vs"]])
    raw, ro, fl, nm = answer["raw"], answer["rollout"], answer["flow"], answer["norm"]
    rows = [
        ("raw", f"L{raw['layer']} H{raw['head']}", raw["to"], raw["vs"],
         f"the strongest single head: {f} gives {raw['to']:.2f} of its attention to {a}"
         + _against(raw["to"], raw["vs"], b)),
        ("rollout", "all layers", ro["to"], ro["vs"],
         f"every layer multiplied, the residual kept: {f} is {ro['to']:.3f} made of {a}"
         + _against(ro["to"], ro["vs"], b)),
        ("flow", "all layers", fl["to"], fl["vs"],
         f"the layers as pipes: up to {fl['to']:.2f} can flow from {a} into {f}" + _against(fl["to"], fl["vs"], b)),
        ("norm", f"L{nm['layer']} H{nm['head']}", nm["to"], nm["vs"],
         f"weighing each value by its size: {100 * nm['to']:.0f}% of what this head hands {f} comes from {a}"
         + _against(nm["to"], nm["vs"], b)
         + f" (in the raw head: {100 * nm['raw_head']['to']:.0f}%, not {100 * raw['to']:.0f}%)"),
    ]
    ab = answer.get("ablation")
    if ab is not None:
        text = ("the last token predicts nothing: no loss to change" if ab["dloss"] is None else
                f"zeroing the raw head changes the loss of the guess after {f} by {ab['dloss']:+.3f} "
                f"(from {ab['loss']:.3f}): {_verdict(ab['dloss'])}")
        rows.append(("ablation", f"L{ab['layer']} H{ab['head']}", ab["dloss"], None, text))
    return rows


def format_why(answer: dict, name: str) -> str:
    tok = answer["tokens"]
    i, j, k = answer["from"], answer["to"], answer["vs"]
    head = f"{name}: how much does {tok[i]!r} (token {i}) take from {tok[j]!r} (token {j})"
    head += "?" if k is None else f", against {tok[k]!r} (token {k})?"
    to_label, vs_label = tok[j][:9], "" if k is None else tok[k][:9]
    lines = [head, f"{'answer':<9} {'where':<10} {to_label:>9} {vs_label:>9}"]
    for method, where, to, vs, text in readings(answer):
        cells = "".join(f" {'' if v is None else f'{v:.3f}':>9}" for v in (to, vs))
        lines += [f"{method:<9} {where:<10}{cells}".rstrip(), f"{'':<9} {text}"]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from attnlab.why.answers import why

    use_runtime(args)
    source = load_source(args)
    idx, tokens = source.encode(args.text)
    i, j, k = find_pair(tokens, args)
    answer = why(source.model, idx, i, j, k, tokens=tokens)
    if args.json:
        print_json(answer, "the answers")
    else:
        print(format_why(answer, source.name))
    return 0
