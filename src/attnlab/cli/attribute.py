"""`attnlab attribute TEXT --run RUN`: direct logit attribution, what each part writes into LD."""

from __future__ import annotations

import argparse

from attnlab.cli._help import HelpFormatter
from attnlab.cli._patch_output import check_outside, dumps, one_token
from attnlab.cli._runtime_args import add_runtime_args, use_runtime
from attnlab.cli._source_args import check_writable, load_source
from attnlab.errors import UserError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "attribute", help="direct logit attribution: each head's, feed-forward's and the embedding's share of LD",
        description="Split the final residual stream at --position into the embedding, each head's output "
                    "through W_O, each attention bias and each feed-forward output, and put each part through "
                    "ln_f (its scale from the actual forward, held fixed) and lm_head: its contribution to "
                    "LD = logit[answer] - logit[wrong]. The parts sum to LD. Default answer: the top next "
                    "token; default wrong: the second. Pre-LN and norm-free runs.",
        formatter_class=HelpFormatter)
    p.add_argument("text", help="the text to look at")
    p.add_argument("--run", required=True, metavar="DIR", help="a run folder holding a GPT (own, import-hf, a ladder rung)")
    p.add_argument("--answer", metavar="TOKEN", help="the answer token (its text)")
    p.add_argument("--wrong", metavar="TOKEN", help="the wrong token (its text)")
    p.add_argument("--position", type=int, help="the position LD is read at (default: the last; -1 counts from the end)")
    p.add_argument("--png", metavar="FILE", help="save the heads' contributions as a layers x heads heatmap")
    p.add_argument("--html", metavar="FILE", help="save the same heatmap as one self-contained HTML page")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    add_runtime_args(p)
    p.set_defaults(func=run, model=None)


def part_label(part: dict) -> str:
    if part["name"] == "head":
        return f"head {part['layer']}.{part['head']}"
    return part["name"] if part["layer"] is None else f"{part['name']} {part['layer']}"


def run(args: argparse.Namespace) -> int:
    import torch

    from attnlab.why.attribute import logit_attribution
    from attnlab.why.logit_diff import check_position
    from attnlab.why.paths import check_paths_model

    for path in (args.png, args.html):
        check_writable(path)
        check_outside(path, args.run)
    use_runtime(args)
    source = load_source(args)
    check_paths_model(source.model, "attnlab attribute")
    idx, tokens = source.encode(args.text)
    position = check_position(args.position, idx.shape[1])
    answer, wrong = one_token(source, args.answer, "--answer"), one_token(source, args.wrong, "--wrong")
    if answer is None or wrong is None:
        with torch.no_grad():
            ranked = source.model(idx)[0][0, position].argsort(descending=True).tolist()
        answer = ranked[0] if answer is None else answer
        wrong = next(t for t in ranked if t != answer) if wrong is None else wrong
    if answer == wrong:
        raise UserError("--answer and --wrong are the same token: their logit difference is 0 by definition")
    found = logit_attribution(source.model, idx, position, answer, wrong)
    strings = source.tokenizer.token_strings
    result = {"text": args.text, **found, "answer": strings([answer])[0], "wrong": strings([wrong])[0]}
    heads = [[0.0] * source.n_heads for _ in range(source.n_layers)]
    for part in found["parts"]:
        if part["name"] == "head":
            heads[part["layer"]][part["head"]] = part["value"]
    title = f"{source.name}: direct logit attribution of each head at position {position}"
    rows, cols = [f"layer {l}" for l in range(source.n_layers)], [f"head {h}" for h in range(source.n_heads)]
    if args.png:
        from attnlab.viz.heatmap import plot_matrix

        plot_matrix(heads, rows, cols, title=title, center=0.0, label="contribution to LD", fmt="+.2f", path=args.png)
    if args.html:
        from attnlab.viz.heatmap import matrix_html, save_matrix_html

        save_matrix_html(args.html, matrix_html(heads, rows, cols, title=title, center=0.0,
                                                note="red: the head pushes the answer over the wrong token"))
    if args.json:
        print(dumps(result))
        return 0
    from attnlab.viz.weights import visible

    lines = [f"{source.name}: direct logit attribution at position {position} ({visible(tokens[position])!r}): "
             f"LD = logit[{result['answer']!r}] - logit[{result['wrong']!r}] = {result['ld']:+.3f}",
             "each part of the final residual stream through ln_f (its scale held fixed) and lm_head; they sum to LD"]
    lines += [f"{part_label(p):>16} {p['value']:+9.3f}" for p in found["parts"]]
    lines.append(f"{'sum':>16} {sum(p['value'] for p in found['parts']):+9.3f}")
    top = sorted((p for p in found["parts"] if p["name"] != "final_bias"), key=lambda p: -abs(p["value"]))[:3]
    lines.append("largest: " + ", ".join(f"{part_label(p)} ({p['value']:+.3f})" for p in top))
    print("\n".join(lines))
    for path in (args.png, args.html):
        if path:
            print(f"wrote {path}")
    return 0
