"""`attnlab patch` as a lab (labs/shape.py): run(settings, progress, opened) -> PatchResult, whose
to_json() is the `--json` object and the Patch panel's answer, and report(result), the text.

    {"clean", "corrupt", "tokens_clean", "tokens_corrupt", "position", "answer", "wrong",
     "ld_clean", "ld_corrupt", <point>: table, ...}        (each cell: the restored share of LD)
    with --method both: "attribution" {<point>: table} and "correlation" {<point>: r};
    with --path: "path" {"path", "input", "ld", "value", "ablate", ...} instead of the tables
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from attnlab.labs.patching.settings import PatchSettings
from attnlab.labs.patching.tokens import format_table, one_token
from attnlab.why.logit_diff import Pair, make_pair
from attnlab.why.patch import check_gpt


@dataclass
class PatchResult:
    model: str  # the model's name, for the report
    n_layers: int
    n_heads: int
    direction: str
    points: list[str]  # the tables made ([] for a path)
    data: dict[str, Any] = field(default_factory=dict)  # the --json object

    def to_json(self) -> dict[str, Any]:
        return self.data


def run(settings: PatchSettings, progress: Callable[[str, dict], None], opened=None) -> PatchResult:
    """Patch on `opened`, the run's model as `attnlab.sources.open_source` opens it (the command's
    --run, or the model the web lab holds)."""
    if opened is None:
        raise TypeError("the patch tool runs on an opened model: run(settings, progress, opened=TextModel)")
    model = opened.model
    check_gpt(model, "attnlab patch")
    clean, tokens_clean = opened.encode(settings.clean)
    corrupt, tokens_corrupt = opened.encode(settings.corrupt)
    answer, wrong = one_token(opened, settings.answer, "--answer"), one_token(opened, settings.wrong, "--wrong")
    path = None
    if settings.path is not None:
        from attnlab.why.paths import check_paths_model, parse_path

        check_paths_model(model)
        path = parse_path(settings.path, opened.n_layers, opened.n_heads)
    points = [] if path else settings.chosen_points(any(block.ffwd is None for block in model.blocks))
    pair = make_pair(model, clean, corrupt, settings.position, answer, wrong)
    strings = opened.tokenizer.token_strings
    data = {"clean": settings.clean, "corrupt": settings.corrupt, "tokens_clean": tokens_clean,
            "tokens_corrupt": tokens_corrupt, "position": pair.position,
            "answer": strings([pair.answer])[0], "wrong": strings([pair.wrong])[0]}
    if path is not None:
        from attnlab.why.paths import path_patch

        found = path_patch(model, pair, path, settings.path_ablate)
        data.update(ld_clean=found.pop("ld_clean"), ld_corrupt=found.pop("ld_corrupt"), path=found)
    else:
        data.update(tables(model, pair, points, settings.method, settings.direction))
    return PatchResult(opened.name, opened.n_layers, opened.n_heads, settings.direction, points, data)


def tables(model, pair: Pair, points: list[str], method: str, direction: str) -> dict[str, Any]:
    """The tables of `method` (exact, attribution or both: then both, and their correlation)."""
    found = exact = attribution = None
    if method in ("exact", "both"):
        from attnlab.why.patch import patch_tables

        found = exact = patch_tables(model, pair, points, direction)
    if method in ("attribution", "both"):
        from attnlab.why.patch_gradient import attribution_tables

        attribution = attribution_tables(model, pair, points, direction)
        found = found or attribution
    out = {"ld_clean": found["ld_clean"], "ld_corrupt": found["ld_corrupt"], **{p: found[p] for p in points}}
    if method == "both":
        from attnlab.why.patch_gradient import correlation

        out["attribution"] = {p: attribution[p] for p in points}
        out["correlation"] = {p: correlation(exact[p], attribution[p]) for p in points}
    return out


def row_labels(point: str, n_layers: int, n_heads: int) -> list[str]:
    if point == "resid":
        return ["embed", *[f"out {l}" for l in range(n_layers)]]
    if point == "heads-pos":
        return [f"{l}.{h}" for l in range(n_layers) for h in range(n_heads)]
    return [f"{point} {l}" if point != "heads" else f"layer {l}" for l in range(n_layers)]


def panels(result: PatchResult) -> list:
    """(values, row labels, column labels, title) per table, heads-pos flattened to (L * H) x T;
    with --method both, the attribution tables after the exact ones."""
    from attnlab.viz.weights import visible

    labels = [f"{t}:{visible(tok)}" for t, tok in enumerate(result.data["tokens_clean"])]
    out = []
    for source, suffix in ((result.data, ""), (result.data.get("attribution"), " (attribution)")):
        for point in result.points if source is not None else []:
            values = source[point]
            if point == "heads-pos":
                values = [row for layer in values for row in layer]
            cols = [f"h{h}" for h in range(result.n_heads)] if point == "heads" else labels
            out.append((values, row_labels(point, result.n_layers, result.n_heads), cols, point + suffix))
    return out


def _header(data: dict, name: str) -> list[str]:
    return [f"{name}: LD = logit[{data['answer']!r}] - logit[{data['wrong']!r}] at position "
            f"{data['position']}: clean {data['ld_clean']:+.3f}, corrupt {data['ld_corrupt']:+.3f}"]


def report(result: PatchResult) -> list[str]:
    """The tables as text (or the path's one line), as `attnlab patch` prints them."""
    data = result.data
    if "path" in data:
        return format_path(data, result.model)
    what = "clean activations into the corrupt run" if result.direction == "denoising" else \
        "corrupt activations into the clean run"
    lines = _header(data, result.model)
    lines.append(f"each cell: {what}, (LD_patched - LD_corrupt) / (LD_clean - LD_corrupt); 1 = the clean answer")
    for values, rows, cols, title in panels(result):
        lines += ["", format_table(title, rows, [c.split(":", 1)[-1] for c in cols], values)]
    if "correlation" in data:
        lines.append("")
        lines += [f"correlation of attribution with exact patching, {p}: "
                  + ("-" if r is None else f"{r:.3f}") for p, r in data["correlation"].items()]
    return lines


def format_path(data: dict, name: str) -> list[str]:
    p = data["path"]
    lines = _header(data, name)
    if p["ablate"] is None:
        lines.append(f"path {p['path']}: the senders' clean output into the receivers' {p['input']} input only, "
                     f"in the corrupt run: LD {p['ld']:+.3f}, {p['value']:.3f} of the way to the clean answer")
    else:
        lines.append(f"path {p['path']}: the senders' output removed ({p['ablate']}) from the receivers' "
                     f"{p['input']} input only, in the clean run: LD {p['ld']:+.3f}, {p['value']:.3f} of the clean "
                     f"LD's lead over the corrupt one kept")
    return lines
