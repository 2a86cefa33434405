"""`attnlab lens` as a lab (labs/shape.py): run(settings, progress, opened) -> LensResult, whose
to_json() is `attnlab lens --json` and the Lens panel's answer:

    {"tokens", "layers", "top", "top_p", "p_next"} (attnlab.why.lens.Lens) and "top_k":
    [layer][position] lists of {"token", "p"}, the k likeliest guesses of each cell
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch

from attnlab.errors import UserError
from attnlab.labs.lens.settings import LensSettings
from attnlab.viz.weights import visible
from attnlab.why.lens import Lens, lens_from_probabilities, lens_probabilities, top_guesses

CELL = 13  # characters per layer column


@dataclass
class LensResult:
    model: str  # the model's name, for the report
    lens: Lens
    top_k: list[list[list[dict]]]

    def to_json(self) -> dict[str, Any]:
        return {**self.lens.to_dict(), "top_k": self.top_k}


def run(settings: LensSettings, progress: Callable[[str, dict], None], opened=None) -> LensResult:
    """The lens on `opened`, the run's model as `attnlab.sources.open_source` opens it."""
    if opened is None:
        raise TypeError("the logit lens runs on an opened model: run(settings, progress, opened=TextModel)")
    idx, _ = opened.encode(settings.text)
    if idx.shape[1] < 2:
        raise UserError("the text must be at least two tokens long: the lens compares each guess with the next token",
                        code="too_few_tokens")
    with torch.inference_mode():
        names, probs, _ = lens_probabilities(opened.model, idx)  # (L + 1, 1, T, V)
    lens = lens_from_probabilities(names, probs[:, 0], idx[0].tolist(), opened.tokenizer)
    return LensResult(opened.name, lens, top_guesses(probs[:, 0], opened.tokenizer, settings.k))


def _cell(top: str, p: float | None) -> str:
    return f"{visible(top)[:5]:>5} {'-' if p is None else f'{p:.3f}':>5}"


def report(result: LensResult) -> list[str]:
    """Rows are positions, columns layers; a cell is the top guess and p(the real next token)."""
    lens = result.lens
    lines = [f"{result.model}: logit lens of {len(lens.tokens)} tokens through {len(lens.layers) - 1} blocks",
             "each cell: the top guess for the next token, then the probability of the token that really comes next",
             f"{'pos':>4} {'token':<8} {'next':<8}|" + "".join(f"{n:>{CELL}}" for n in lens.layers)]
    for t, token in enumerate(lens.tokens):
        nxt = visible(lens.tokens[t + 1]) if t + 1 < len(lens.tokens) else ""
        cells = "".join(f"{_cell(lens.top[l][t], lens.p_next[l][t]):>{CELL}}" for l in range(len(lens.layers)))
        lines.append(f"{t:>4} {visible(token)[:8]:<8} {nxt[:8]:<8}|{cells}")
    means = [[p for p in row if p is not None] for row in lens.p_next]
    lines.append(f"{'mean p(next)':<22}|" + "".join(f"{sum(m) / len(m):>{CELL}.3f}" for m in means))
    return lines
