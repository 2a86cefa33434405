"""`attnlab features` as a lab (labs/shape.py): browse a run's SAE, or the raw neurons of its point.

`assemble` builds the answer from a Browser; `run` opens the browser and assembles, for the
command; the web lab's Features panel keeps its browser between requests and assembles with the
same function, so `attnlab features --json` and `POST /api/features` answer the same object:

    {"sae", "kind", "summary", "listing": the `top` densest units,
     "detail": one unit in full (with a unit), "fire": the units most active at each token (with a text)}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch

from attnlab.labs.sae.browse import Browser
from attnlab.labs.sae.lab import open_browser
from attnlab.labs.sae.settings import FeaturesSettings

SHADES = " ░▒▓█"


@dataclass
class FeaturesResult:
    sae: str  # the SAE's folder name in the run
    kind: str  # "feature" or "neuron"
    summary: dict[str, Any]
    listing: list[dict[str, Any]]
    detail: dict[str, Any] | None = None
    fire: list[dict[str, Any]] | None = None
    browser: Browser | None = None  # for `--html` (the whole browser as a page); not in the JSON

    def to_json(self) -> dict[str, Any]:
        out = {"sae": self.sae, "kind": self.kind, "summary": self.summary, "listing": self.listing}
        if self.detail is not None:
            out["detail"] = self.detail
        if self.fire is not None:
            out["fire"] = self.fire
        return out


def assemble(browser: Browser, name: str, kind: str, top: int, unit: int | None = None,
             idx: torch.Tensor | None = None) -> FeaturesResult:
    """The answer: the listing, one unit in full (`unit`), the units firing at each token of ids
    idx (1, T). The caller holds the model's lock (fire runs a forward)."""
    return FeaturesResult(name, kind, browser.summary(), browser.listing(kind)[:top],
                          detail=browser.detail(kind, unit) if unit is not None else None,
                          fire=browser.fire(idx, kind) if idx is not None else None, browser=browser)


def run(settings: FeaturesSettings, progress: Callable[[str, dict], None], opened=None) -> FeaturesResult:
    """Open the run's browser and assemble. `opened`: the run's model as `attnlab.sources` opens it
    (the command's, or the one the web lab holds); a text is encoded by it (its checks, its limits),
    so without it `text` cannot be read."""
    if settings.text is not None and opened is None:
        raise TypeError("features of a text need the opened model: run(settings, progress, opened=TextModel)")
    browser, name = open_browser(settings.run, settings.sae, settings.tokens, opened=opened)
    idx = opened.encode(settings.text)[0] if settings.text is not None and settings.text.strip() else None
    return assemble(browser, name, settings.kind, settings.top, settings.unit, idx)


def report(result: FeaturesResult) -> list[str]:
    """One unit in full, or the units at each token, or the summary and the listing."""
    if result.detail is not None:
        return detail_lines(result.detail)
    if result.fire is not None:
        lines = [f"the {result.kind}s most active at each token ({result.sae}):"]
        for row in result.fire:
            units = ", ".join(f"{u['unit']} ({u['value']:.2f})" for u in row["units"]) or "none"
            lines.append(f"  {row['token']!r:>8}  {units}")
        return lines
    s = result.summary
    lines = [f"{result.sae} on {s['point']}, {s['tokens']} validation tokens"]
    for k in ("feature", "neuron"):
        if k in s:
            lines.append(f"  {k}s: {s[k]['units']}, never active {s[k]['dead']}, median density "
                         f"{100 * s[k]['median_density']:.2f}%, median specificity {s[k]['median_specificity']}")
    lines.append(f"the {len(result.listing)} densest {result.kind}s (unit, density, specificity, tokens it promotes):")
    for u in result.listing:
        lines.append(f"  {u['unit']:>5}  {100 * u['density']:6.2f}%  {u['specificity']}  "
                     f"{' '.join(map(repr, u['promotes']))}")
    return lines


def shaded(tokens: list[str], acts: list, top: float, at: int) -> str:
    """A context as text, each token followed by a shade of its activation: e[▓] ..."""
    out = []
    for i, (t, a) in enumerate(zip(tokens, acts)):
        level = 0 if not top or a is None or a <= 0 else min(4, 1 + int(4 * a / top - 1e-9))
        mark = f"[{SHADES[level]}]" if level else ""
        out.append(f"»{t}«{mark}" if i == at else f"{t}{mark}")
    return "".join(out)


def detail_lines(d: dict) -> list[str]:
    counts = d["histogram"]["counts"]
    peak = max(counts) or 1
    lines = [f"{d['kind']} {d['unit']}: density {100 * d['density']:.3f}% of tokens, specificity {d['specificity']}, "
             f"max activation {d['histogram']['max']:.3f}",
             "histogram (0 .. max): " + "".join(" ▁▂▃▄▅▆▇█"[min(8, round(8 * c / peak))] for c in counts),
             "top contexts (»token«, activation):"]
    for c in d["contexts"]:
        lines.append(f"  {c['value']:>8.3f}  {shaded(c['tokens'], c['acts'], d['histogram']['max'], c['at'])}")
    for name in ("promotes", "suppresses"):
        lines.append(f"{name}: " + "  ".join(f"{t['token']!r} {t['weight']:+.3g}" for t in d[name]))
    return lines
