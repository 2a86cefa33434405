"""`attnlab patch --run RUN --clean TEXT --corrupt TEXT`: which activations carry the answer?"""

from __future__ import annotations

import argparse

from attnlab.cli._help import HelpFormatter
from attnlab.cli._patch_output import check_outside, dumps, format_table, one_token
from attnlab.cli._runtime_args import add_runtime_args, use_runtime
from attnlab.cli._source_args import check_writable, load_source
from attnlab.errors import UserError

POINTS = ("resid", "attn", "mlp", "heads", "heads-pos")
METHODS = ("exact", "attribution", "both")


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
    p.add_argument("--run", required=True, metavar="DIR", help="a run folder holding a GPT (own, import-hf, a ladder rung)")
    p.add_argument("--clean", required=True, metavar="TEXT", help="the text whose answer is measured")
    p.add_argument("--corrupt", required=True, metavar="TEXT", help="a text of the same token length, answered otherwise")
    p.add_argument("--points", default="resid,attn,mlp,heads",
                   help=f"the tables, comma-separated, from {', '.join(POINTS)} (mlp is left out of the default "
                        f"for an attention-only model)")
    p.add_argument("--method", choices=METHODS, default="exact",
                   help="exact: one forward per cell; attribution: gradients, one forward and backward per run; "
                        "both: both, and their correlation")
    p.add_argument("--direction", choices=("denoising", "noising"), default="denoising",
                   help="denoising: clean activations into the corrupt run; noising: corrupt ones into the clean run")
    p.add_argument("--answer", metavar="TOKEN", help="the answer token (its text)")
    p.add_argument("--wrong", metavar="TOKEN", help="the wrong token (its text)")
    p.add_argument("--position", type=int, help="the position LD is read at (default: the last; -1 counts from the end)")
    p.add_argument("--path", metavar="SPEC", help="path patching, e.g. 0.3->1.2.k, 0.*->1.*.q, 1.0->3.2.v")
    p.add_argument("--path-ablate", choices=("zero", "mean"),
                   help="with --path: on the clean run, remove the sender's output from that path only")
    p.add_argument("--png", metavar="FILE", help="save the tables as heatmaps: .png, .svg, .pdf")
    p.add_argument("--html", metavar="FILE", help="save the same heatmaps as one self-contained HTML page")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the tables")
    add_runtime_args(p)
    p.set_defaults(func=run, model=None)


def parse_points(text: str, attention_only: bool, explicit: bool) -> list[str]:
    points = [p.strip() for p in text.split(",") if p.strip()]
    for point in points:
        if point not in POINTS:
            raise UserError(f"--points: unknown point {point!r}; choose from {', '.join(POINTS)}")
    if len(set(points)) != len(points) or not points:
        raise UserError("--points names a point twice, or none")
    if attention_only and not explicit:
        points = [p for p in points if p != "mlp"]
    return points


def row_labels(point: str, n_layers: int, n_heads: int) -> list[str]:
    if point == "resid":
        return ["embed", *[f"out {l}" for l in range(n_layers)]]
    if point == "heads-pos":
        return [f"{l}.{h}" for l in range(n_layers) for h in range(n_heads)]
    return [f"{point} {l}" if point != "heads" else f"layer {l}" for l in range(n_layers)]


def panels(result: dict, points: list[str], labels: list[str], n_layers: int, n_heads: int, suffix: str = "") -> list:
    """(values, row labels, column labels, title) per table, heads-pos flattened to (L * H) x T."""
    out = []
    for point in points:
        values = result[point]
        if point == "heads-pos":
            values = [row for layer in values for row in layer]
        cols = [f"h{h}" for h in range(n_heads)] if point == "heads" else labels
        out.append((values, row_labels(point, n_layers, n_heads), cols, point + suffix))
    return out


def run(args: argparse.Namespace) -> int:
    for path in (args.png, args.html):
        check_writable(path)
        check_outside(path, args.run)
    if args.path_ablate is not None and args.path is None:
        raise UserError("--path-ablate goes with --path (it removes a sender's output from one path)")
    use_runtime(args)
    source = load_source(args)
    model = source.model
    from attnlab.why.logit_diff import make_pair
    from attnlab.why.patch import check_gpt

    check_gpt(model, "attnlab patch")
    clean, tokens_clean = source.encode(args.clean)
    corrupt, tokens_corrupt = source.encode(args.corrupt)
    answer, wrong = one_token(source, args.answer, "--answer"), one_token(source, args.wrong, "--wrong")
    if args.path is not None:
        from attnlab.why.paths import check_paths_model, parse_path

        check_paths_model(model)
        path = parse_path(args.path, source.n_layers, source.n_heads)
    else:
        attention_only = any(block.ffwd is None for block in model.blocks)
        explicit = args.points != "resid,attn,mlp,heads"
        points = parse_points(args.points, attention_only, explicit)
    pair = make_pair(model, clean, corrupt, args.position, answer, wrong)
    strings = source.tokenizer.token_strings
    result = {"clean": args.clean, "corrupt": args.corrupt, "tokens_clean": tokens_clean,
              "tokens_corrupt": tokens_corrupt, "position": pair.position,
              "answer": strings([pair.answer])[0], "wrong": strings([pair.wrong])[0]}
    if args.path is not None:
        from attnlab.why.paths import path_patch

        found = path_patch(model, pair, path, args.path_ablate)
        result.update(ld_clean=found.pop("ld_clean"), ld_corrupt=found.pop("ld_corrupt"), path=found)
        print(dumps(result) if args.json else format_path(result, source.name))
        return 0
    tables = exact = attribution = None
    if args.method in ("exact", "both"):
        from attnlab.why.patch import patch_tables

        tables = exact = patch_tables(model, pair, points, args.direction)
    if args.method in ("attribution", "both"):
        from attnlab.why.patch_gradient import attribution_tables

        attribution = attribution_tables(model, pair, points, args.direction)
        tables = tables or attribution
    result.update(ld_clean=tables["ld_clean"], ld_corrupt=tables["ld_corrupt"], **{p: tables[p] for p in points})
    if args.method == "both":
        from attnlab.why.patch_gradient import correlation

        result["attribution"] = {p: attribution[p] for p in points}
        result["correlation"] = {p: correlation(exact[p], attribution[p]) for p in points}
    from attnlab.viz.weights import visible

    labels = [f"{t}:{visible(tok)}" for t, tok in enumerate(tokens_clean)]
    shown = panels(result, points, labels, source.n_layers, source.n_heads)
    if args.method == "both":
        shown += panels(result["attribution"], points, labels, source.n_layers, source.n_heads, " (attribution)")
    write_pictures(args, shown, source.name, pair.position)
    if args.json:
        print(dumps(result))
        return 0
    print(format_patch(result, shown, source.name, args))
    for path in (args.png, args.html):
        if path:
            print(f"wrote {path}")
    return 0


def write_pictures(args: argparse.Namespace, shown: list, name: str, position: int) -> None:
    title = f"{name}: activation patching ({args.direction}), LD read at position {position}"
    if args.png:
        from attnlab.viz.heatmap import plot_matrices

        plot_matrices(shown, title=title, center=0.0, label="restored share of LD", fmt=".2f", path=args.png)
    if args.html:
        from attnlab.viz.heatmap import matrices_html, save_matrix_html

        save_matrix_html(args.html, matrices_html(shown, title=title, center=0.0,
                                                  note="each cell: (LD_patched - LD_corrupt) / (LD_clean - "
                                                       "LD_corrupt); 1 = the clean answer restored"))


def _header(result: dict, name: str) -> list[str]:
    return [f"{name}: LD = logit[{result['answer']!r}] - logit[{result['wrong']!r}] at position "
            f"{result['position']}: clean {result['ld_clean']:+.3f}, corrupt {result['ld_corrupt']:+.3f}"]


def format_patch(result: dict, shown: list, name: str, args: argparse.Namespace) -> str:
    what = "clean activations into the corrupt run" if args.direction == "denoising" else \
        "corrupt activations into the clean run"
    lines = _header(result, name)
    lines.append(f"each cell: {what}, (LD_patched - LD_corrupt) / (LD_clean - LD_corrupt); 1 = the clean answer")
    for values, rows, cols, title in shown:
        lines += ["", format_table(title, rows, [c.split(":", 1)[-1] for c in cols], values)]
    if "correlation" in result:
        lines.append("")
        lines += [f"correlation of attribution with exact patching, {p}: "
                  + ("-" if r is None else f"{r:.3f}") for p, r in result["correlation"].items()]
    return "\n".join(lines)


def format_path(result: dict, name: str) -> str:
    p = result["path"]
    lines = _header(result, name)
    if p["ablate"] is None:
        lines.append(f"path {p['path']}: the senders' clean output into the receivers' {p['input']} input only, "
                     f"in the corrupt run: LD {p['ld']:+.3f}, {p['value']:.3f} of the way to the clean answer")
    else:
        lines.append(f"path {p['path']}: the senders' output removed ({p['ablate']}) from the receivers' "
                     f"{p['input']} input only, in the clean run: LD {p['ld']:+.3f}, {p['value']:.3f} of the clean "
                     f"LD's lead over the corrupt one kept")
    return "\n".join(lines)
