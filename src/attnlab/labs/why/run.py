"""`attnlab why` as a lab (labs/shape.py): run(settings, progress, opened) -> WhyResult, whose
to_json() is `attnlab why --json` and the Why panel's answer (attnlab.why.answers.why):

    {"from", "to", "vs", "tokens", "raw", "rollout", "flow", "norm"} and, for a GPT, "ablation"
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch

from attnlab.labs.why.settings import ROLES, WhySettings
from attnlab.labs.why.tokens import find_token
from attnlab.why.answers import why


@dataclass
class WhyResult:
    model: str  # the model's name, for the report
    answer: dict[str, Any]  # the --json object

    def to_json(self) -> dict[str, Any]:
        return self.answer


def run(settings: WhySettings, progress: Callable[[str, dict], None], opened=None) -> WhyResult:
    """The answers on `opened`, the model as `attnlab.sources.open_source` opens it (a GPT run or MiniLM)."""
    if opened is None:
        raise TypeError("why runs on an opened model: run(settings, progress, opened=TextModel)")
    idx, tokens = opened.encode(settings.text)
    i, j, k = positions(settings, tokens)
    with torch.inference_mode():
        return WhyResult(opened.name, why(opened.model, idx, i, j, k, tokens=tokens))


def positions(settings: WhySettings, tokens: list[str]) -> tuple[int, int, int | None]:
    """The positions of the from, to and vs tokens (vs: None when not given), each given by what it
    reads or by its position (why() checks the positions)."""
    found = []
    for role, _ in ROLES:
        word, position = getattr(settings, f"{role}_token"), getattr(settings, f"{role}_position")
        found.append(find_token(tokens, word, f"--{role}") if word is not None else position)
    return found[0], found[1], found[2]


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


def report(result: WhyResult) -> list[str]:
    """A row per answer (its values for --to and --vs) and a line reading it, as `attnlab why` prints them."""
    answer = result.answer
    tok = answer["tokens"]
    i, j, k = answer["from"], answer["to"], answer["vs"]
    head = f"{result.model}: how much does {tok[i]!r} (token {i}) take from {tok[j]!r} (token {j})"
    head += "?" if k is None else f", against {tok[k]!r} (token {k})?"
    to_label, vs_label = tok[j][:9], "" if k is None else tok[k][:9]
    lines = [head, f"{'answer':<9} {'where':<10} {to_label:>9} {vs_label:>9}"]
    for method, where, to, vs, text in readings(answer):
        cells = "".join(f" {'' if v is None else f'{v:.3f}':>9}" for v in (to, vs))
        lines += [f"{method:<9} {where:<10}{cells}".rstrip(), f"{'':<9} {text}"]
    return lines
