"""The feature browser's data: what `attnlab features`, its HTML page and the web lab's Features
panel show, as plain JSON-ready dicts (computed here once, rendered elsewhere).

    >>> b = Browser.build(model, tokenizer, point, x, sae)        # doctest: +SKIP
    >>> b.listing("feature")[:2]                                  # doctest: +SKIP
    [{"unit": 17, "density": 0.31, "specificity": 0.2, "promotes": [" ", "e"]}, ...]
    >>> b.detail("neuron", 5)["contexts"][0]                      # doctest: +SKIP
    {"token": 913, "tokens": ["t", "h", "e"], "acts": [0.0, 0.1, 2.3], "at": 2}

x holds windows of the run's validation text (W, T); the activations of every token are
computed once, for the SAE's features and for the point's neurons alike (attnlab.labs.sae.units).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn

from attnlab.errors import UserError
from attnlab.labs.sae.activations import collect
from attnlab.labs.sae.model import SparseAutoencoder
from attnlab.labs.sae.units import (Units, densities, histogram, logit_weights, neuron_units, sae_units,
                                    specificity, top_indices)
from attnlab.look.hooks import record

BEFORE, AFTER = 12, 4  # tokens of a context shown before and after the token
CONTEXTS, TOP_TOKENS = 10, 8


def _num(value: float, digits: int = 4) -> float | None:
    return None if not math.isfinite(value) else round(value, digits)


@dataclass
class Kind:
    """One kind of unit (the SAE's features, or the neurons) with its measures."""

    units: Units
    density: torch.Tensor  # (U,)
    specificity: torch.Tensor  # (U,)
    logits: torch.Tensor | None  # (U, V)


class Browser:
    def __init__(self, model: nn.Module, tokenizer, point: str, x: torch.Tensor, kinds: dict[str, Kind],
                 sae: SparseAutoencoder | None):
        self.model, self.tokenizer, self.point, self.x, self.kinds, self.sae = model, tokenizer, point, x, kinds, sae
        self.ids = x.flatten()  # (N,) the token at each row of the activations
        self.labels = tokenizer.token_strings(list(range(model.config.vocab_size)))

    @classmethod
    def build(cls, model: nn.Module, tokenizer, point: str, x: torch.Tensor,
              sae: SparseAutoencoder | None) -> "Browser":
        acts = collect(model, point, x)  # (N, d)
        ids = x.flatten()
        made = {"neuron": neuron_units(acts)}
        if sae is not None:
            made["feature"] = sae_units(sae, acts)
        kinds = {name: Kind(u, densities(u.acts), specificity(u.acts, ids), logit_weights(model, point, u.directions))
                 for name, u in made.items()}
        return cls(model, tokenizer, point, x, kinds, sae)

    def kind(self, name: str) -> Kind:
        if name not in self.kinds:
            raise UserError(f"no {name}s here: {'no SAE was given' if name == 'feature' else name}", code="bad_value")
        return self.kinds[name]

    def count(self, name: str) -> int:
        return self.kind(name).units.acts.shape[1]

    def _tokens(self, logits: torch.Tensor | None, unit: int) -> tuple[list, list]:
        if logits is None:
            return [], []
        row = logits[unit]
        up, down = torch.topk(row, TOP_TOKENS), torch.topk(-row, TOP_TOKENS)
        return ([{"token": self.labels[i], "weight": _num(v)} for v, i in zip(up.values.tolist(), up.indices.tolist())],
                [{"token": self.labels[i], "weight": _num(-v)} for v, i in zip(down.values.tolist(), down.indices.tolist())])

    def listing(self, name: str) -> list[dict]:
        """Every unit, densest first: {"unit", "density", "specificity", "promotes"} (3 tokens)."""
        k = self.kind(name)
        order = torch.sort(-k.density, stable=True).indices.tolist()
        out = []
        for u in order:
            promotes, _ = self._tokens(k.logits, u)
            out.append({"unit": u, "density": _num(k.density[u].item(), 6), "specificity": _num(k.specificity[u].item()),
                        "promotes": [t["token"] for t in promotes[:3]]})
        return out

    def contexts(self, name: str, unit: int, k: int = CONTEXTS) -> list[dict]:
        """The unit's top-k tokens, each with a window of text around it and the unit's activation
        on every token of the window: {"index", "tokens", "acts", "at"} (at: the token's place)."""
        column = self.kind(name).units.acts[:, unit]
        T = self.x.shape[1]
        out = []
        for i in top_indices(column, k):
            w, t = divmod(i, T)
            lo, hi = max(0, t - BEFORE), min(T, t + AFTER + 1)
            ids = self.x[w, lo:hi].tolist()
            acts = column[w * T + lo:w * T + hi]
            out.append({"index": i, "tokens": [self.labels[j] for j in ids],
                        "acts": [_num(v) for v in acts.tolist()], "at": t - lo, "value": _num(column[i].item())})
        return out

    def detail(self, name: str, unit: int, contexts: int = CONTEXTS) -> dict:
        """Everything about one unit: density, histogram, top contexts, logit weights."""
        k = self.kind(name)
        if not 0 <= unit < self.count(name):
            raise UserError(f"{name} {unit} does not exist: there are {self.count(name)} (0..{self.count(name) - 1})",
                            code="out_of_range")
        promotes, suppresses = self._tokens(k.logits, unit)
        return {"kind": name, "unit": unit, "density": _num(k.density[unit].item(), 6),
                "specificity": _num(k.specificity[unit].item()), "histogram": histogram(k.units.acts[:, unit]),
                "contexts": self.contexts(name, unit, contexts), "promotes": promotes, "suppresses": suppresses}

    def summary(self) -> dict:
        """Per kind: how many units, how many never active, the median density and specificity."""
        out = {}
        for name, k in self.kinds.items():
            spec = k.specificity[~torch.isnan(k.specificity)]
            out[name] = {"units": k.units.acts.shape[1], "dead": int((k.density == 0).sum()),
                         "median_density": _num(k.density.median().item(), 6),
                         "median_specificity": _num(spec.median().item()) if len(spec) else None}
        return {"point": self.point, "tokens": len(self.ids), **out}

    @torch.no_grad()
    def fire(self, idx: torch.Tensor, name: str, top: int = 5) -> list[dict]:
        """For a typed text's ids (1, T): at each token, the units most active there
        [{"token", "units": [{"unit", "value"}]}]."""
        with record(self.model, self.point) as rec:
            self.model(idx.to(next(self.model.parameters()).device))
        acts = rec[self.point][0].float().cpu()  # (T, d)
        self.kind(name)
        if name == "feature":
            acts = self.sae.encode(acts)  # (T, F)
        out = []
        for t, row in zip(idx[0].tolist(), acts):
            values, units = torch.topk(row, min(top, row.shape[0]))
            out.append({"token": self.labels[t], "units": [{"unit": u, "value": _num(v)}
                                                          for v, u in zip(values.tolist(), units.tolist()) if v > 0]})
        return out

    def page_data(self, title: str, contexts: int = 6) -> dict:
        """Everything the HTML page shows: per kind the listing and every unit's detail."""
        kinds = {name: {"listing": self.listing(name),
                        "details": {u: self.detail(name, u, contexts) for u in range(self.count(name))}}
                 for name in self.kinds}
        return {"title": f"{title}: {self.point}", "summary": self.summary(), "kinds": kinds}
