"""`attnlab attribute` as a lab (labs/shape.py): run(settings, progress, opened) -> AttributeResult,
whose to_json() is `attnlab attribute --json` and the answer of `POST /api/attribute`:

    {"text", "position", "answer", "wrong", "ld", "parts": [{"name", "layer", "head", "value"}]}

the final residual stream at "position" split into the embedding, each head's output through
W_O, each attention bias and each feed-forward output, each part's contribution to LD =
logit[answer] - logit[wrong] (they sum to "ld"; attnlab.why.attribute).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from attnlab.errors import UserError
from attnlab.labs.attribution.settings import AttributeSettings
from attnlab.labs.patching.tokens import one_token
from attnlab.viz.weights import visible
from attnlab.why.attribute import logit_attribution
from attnlab.why.logit_diff import check_position
from attnlab.why.paths import check_paths_model


@dataclass
class AttributeResult:
    model: str  # the model's name, for the report
    token: str  # the token at the position LD is read at
    n_layers: int
    n_heads: int
    data: dict[str, Any] = field(default_factory=dict)  # the --json object

    def to_json(self) -> dict[str, Any]:
        return self.data

    def heads(self) -> list[list[float]]:
        """Each head's contribution, layers x heads (the pictures')."""
        grid = [[0.0] * self.n_heads for _ in range(self.n_layers)]
        for part in self.data["parts"]:
            if part["name"] == "head":
                grid[part["layer"]][part["head"]] = part["value"]
        return grid


def run(settings: AttributeSettings, progress: Callable[[str, dict], None], opened=None) -> AttributeResult:
    """The attribution on `opened`, the run's model as `attnlab.sources.open_source` opens it."""
    if opened is None:
        raise TypeError("direct logit attribution runs on an opened model: run(settings, progress, opened=TextModel)")
    model = opened.model
    check_paths_model(model, "attnlab attribute")
    idx, tokens = opened.encode(settings.text)
    position = check_position(settings.position, idx.shape[1])
    answer, wrong = one_token(opened, settings.answer, "--answer"), one_token(opened, settings.wrong, "--wrong")
    if answer is None or wrong is None:
        with torch.no_grad():
            ranked = model(idx)[0][0, position].argsort(descending=True).tolist()
        answer = ranked[0] if answer is None else answer
        wrong = next(t for t in ranked if t != answer) if wrong is None else wrong
    if answer == wrong:
        raise UserError("--answer and --wrong are the same token: their logit difference is 0 by definition",
                        code="bad_value")
    found = logit_attribution(model, idx, position, answer, wrong)
    strings = opened.tokenizer.token_strings
    data = {"text": settings.text, **found, "answer": strings([answer])[0], "wrong": strings([wrong])[0]}
    return AttributeResult(opened.name, tokens[position], opened.n_layers, opened.n_heads, data)


def part_label(part: dict) -> str:
    if part["name"] == "head":
        return f"head {part['layer']}.{part['head']}"
    return part["name"] if part["layer"] is None else f"{part['name']} {part['layer']}"


def report(result: AttributeResult) -> list[str]:
    """Each part's contribution, their sum (LD) and the three largest, as `attnlab attribute` prints them."""
    data, parts = result.data, result.data["parts"]
    lines = [f"{result.model}: direct logit attribution at position {data['position']} ({visible(result.token)!r}): "
             f"LD = logit[{data['answer']!r}] - logit[{data['wrong']!r}] = {data['ld']:+.3f}",
             "each part of the final residual stream through ln_f (its scale held fixed) and lm_head; they sum to LD"]
    lines += [f"{part_label(p):>16} {p['value']:+9.3f}" for p in parts]
    lines.append(f"{'sum':>16} {sum(p['value'] for p in parts):+9.3f}")
    top = sorted((p for p in parts if p["name"] != "final_bias"), key=lambda p: -abs(p["value"]))[:3]
    lines.append("largest: " + ", ".join(f"{part_label(p)} ({p['value']:+.3f})" for p in top))
    return lines
