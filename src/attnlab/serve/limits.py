"""How many tokens each panel takes on each model, so that no request holds a model for long.

A request holds its model's lock while it works (see store.py), so one long request makes
every other request for that model wait. Each endpoint's work grows with the text's length T
in its own way; the cap is the largest T whose cost stays within the endpoint's budget:

    attention, explain   L·H·T² attention weights recorded (and, for attention, sent)
    why                  L·T² edges of the attention-flow graph (networkx's max-flow, in Python)
    lens                 (L+1)·T·V logit-lens probabilities
    ablate               L·T·C per forward: 2·L·H + 3 forwards with the per-head table, 3 without
    next                 L·T·C for its one forward

The budgets are the cost of the heaviest request measured at about a second on a laptop-class
CPU with one torch thread (benchmarks/serve_caps.py): MiniLM's why at 64 tokens (0.8 s),
MiniLM's attention at its full 512 (1.0 s for the forward), the default run's ablate with
every head at 64 tokens, doubled (0.5 s). A model's caps are in `GET /api/models`; a text over
one is a 413 with code "over_token_cap" whose message names the cap.

>>> minilm = Size(layers=6, heads=12, width=384, vocab=30522, max_tokens=512)
>>> token_cap("why", minilm), token_cap("attention", minilm)
(64, 512)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from attnlab.errors import UserError


@dataclass(frozen=True)
class Size:
    """What a model's costs depend on: L layers, H heads, width C, vocabulary V, its longest text."""

    layers: int
    heads: int
    width: int
    vocab: int
    max_tokens: int


def _weights(s: Size, T: int) -> int:
    return s.layers * s.heads * T * T


def _flow_edges(s: Size, T: int) -> int:
    return s.layers * T * T


def _lens(s: Size, T: int) -> int:
    return (s.layers + 1) * T * s.vocab


def _forwards(count: Callable[[Size], int]) -> Callable[[Size, int], int]:
    return lambda s, T: count(s) * s.layers * T * s.width


# endpoint -> (what is counted, the most one request may cost, the cost of T tokens)
COSTS: dict[str, tuple[str, int, Callable[[Size, int], int]]] = {
    "attention": ("attention weights", 6 * 12 * 512 * 512, _weights),
    "explain": ("attention weights", 6 * 12 * 512 * 512, _weights),
    "why": ("edges of the attention-flow graph", 6 * 64 * 64, _flow_edges),
    "lens": ("logit-lens probabilities", 1 << 24, _lens),
    "ablate": ("forward work with the per-head table", 1 << 21, _forwards(lambda s: 2 * s.layers * s.heads + 3)),
    "ablate_set": ("forward work", 1 << 21, _forwards(lambda s: 3)),
    "next": ("forward work", 1 << 23, _forwards(lambda s: 1)),
}


def token_cap(endpoint: str, size: Size) -> int:
    """The most tokens `endpoint` takes on a model of `size` (at most its own max_tokens)."""
    what, budget, cost = COSTS[endpoint]
    low, high = 0, size.max_tokens  # the cost grows with T: the largest T within the budget
    while low < high:
        mid = (low + high + 1) // 2
        if cost(size, mid) <= budget:
            low = mid
        else:
            high = mid - 1
    return low


def caps(size: Size) -> dict[str, int]:
    """Every endpoint's cap on this model, as `GET /api/models` lists them."""
    return {name: token_cap(name, size) for name in COSTS}


def check_tokens(endpoint: str, size: Size, name: str, T: int) -> None:
    """A UserError (413, "over_token_cap") when T tokens are over `endpoint`'s cap on this model."""
    cap = token_cap(endpoint, size)
    if T > cap:
        what = COSTS[endpoint][0]
        panel = "ablate with every head's row" if endpoint == "ablate" else endpoint.replace("_set", "")
        raise UserError(f"the text is {T} tokens long; {panel} takes at most {cap} on {name} "
                        f"(a cap on its {what}, so that one request cannot hold the model for long)",
                        status=413, code="over_token_cap")
