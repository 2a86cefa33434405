"""Record and change any intermediate of a forward pass, by name, on the real code path.

    >>> import torch, attnlab
    >>> model = attnlab.GPT(attnlab.GPTConfig(vocab_size=10, max_seq_len=8, d_model=16, n_heads=2, n_layers=2))
    >>> idx = torch.tensor([[1, 2, 3]])
    >>> with attnlab.record(model, "blocks.*.out", "blocks.1.attn.weights") as rec:
    ...     logits, _ = model(idx)
    >>> list(rec), tuple(rec["blocks.1.attn.weights"].shape)
    (['blocks.0.out', 'blocks.1.attn.weights', 'blocks.1.out'], (1, 2, 3, 3))
    >>> def zero_head_0(z, name):
    ...     z[:, :, 0] = 0                     # z is (B, T, H, D)
    ...     return z
    >>> with attnlab.intervene(model, {"blocks.0.attn.z": zero_head_0}):
    ...     ablated, _ = model(idx)

Names are the model's named points (model/points.py): the module path plus the point's name,
e.g. `embed`, `blocks.3.ln1`, `blocks.3.attn.q`, `blocks.3.attn.weights`, `blocks.3.out`,
`ln_f`, `logits`; `attnlab.point_names(model)` lists them all. A pattern is a name or a glob
over dotted names: `*` stands for one part (`blocks.*.out` is every block's output, not
`blocks.0.attn.out`), `**` for any number of parts (`**.weights` is every attention's
weights), `?` for one character. A pattern that matches no point is a ValueError.

`record` keeps each value detached: `rec[name]` is the last forward's, `rec.history[name]`
every forward's, in order (KV-cached generation runs one forward per token). `intervene`
calls `fn(value, name)` with a copy of the value (change it in place or build a new one) and
passes on what `fn` returns, which must have the value's shape. Both nest (the functions run
in the order the contexts were opened), work with `torch.no_grad` and inference mode, and
detach everything they attached on exit, even after an exception. Neither changes train/eval
mode. Recording `scores` or `weights` switches that attention to its explicit path; any other
point leaves `F.scaled_dot_product_attention` in place.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from typing import Callable, Iterator, Mapping

import torch
import torch.nn as nn

from attnlab.model.points import Point, named_points
from attnlab.errors import UserError

Intervention = Callable[[torch.Tensor, str], torch.Tensor]


class Recording(dict):
    """name -> the value of the last forward; `.history[name]` lists every forward's, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list[torch.Tensor]] = {}

    def add(self, name: str, value: torch.Tensor) -> None:
        self[name] = value
        self.history.setdefault(name, []).append(value)

    def __missing__(self, name: str) -> torch.Tensor:
        have = ", ".join(self) or "nothing yet (run a forward inside the `with`)"
        raise KeyError(f"{name!r} was not recorded; recorded: {have}")


def point_names(model: nn.Module) -> list[str]:
    """Every named point of `model` (module order: a module's own points before its children's)."""
    return list(named_points(model))


def pattern_regex(pattern: str) -> re.Pattern:
    """A glob over dotted names as a regex: `*` one part, `**` any parts, `?` one character.

    >>> bool(pattern_regex("blocks.*.out").fullmatch("blocks.0.attn.out"))
    False
    >>> bool(pattern_regex("**.weights").fullmatch("decoder.blocks.1.cross_attn.weights"))
    True
    """
    parts = re.split(r"(\*\*|\*|\?)", pattern)
    wild = {"**": ".*", "*": r"[^.]*", "?": r"[^.]"}
    return re.compile("".join(wild.get(p, re.escape(p)) for p in parts))


def select(model: nn.Module, patterns: list[str]) -> dict[str, Point]:
    """The points that `patterns` name, in module order; a pattern matching none is a ValueError."""
    points = named_points(model)
    if not points:
        raise UserError(f"{type(model).__name__} has no named points to record or change")
    chosen: set[str] = set()
    for pattern in patterns:
        if not isinstance(pattern, str):
            raise UserError(f"a point name or pattern must be a string, got {pattern!r}")
        regex = pattern_regex(pattern)
        found = [name for name in points if regex.fullmatch(name)]
        if not found:
            examples = ", ".join(list(points)[:12])
            raise UserError(f"no point of {type(model).__name__} matches {pattern!r} ('*' is one dotted "
                             f"part, '**' any number); names look like: {examples}, ... "
                             f"({len(points)} in all, see attnlab.point_names(model))")
        chosen.update(found)
    return {name: point for name, point in points.items() if name in chosen}


@contextmanager
def attach(points: Mapping[str, Point],
           make: Callable[[str], Callable[[torch.Tensor], torch.Tensor]]) -> Iterator[None]:
    """Attach `make(name)` to each point while the context is open; always detached on exit."""
    attached: list[tuple[Point, Callable]] = []
    try:
        for name, point in points.items():
            fn = make(name)
            point.fns.append(fn)
            attached.append((point, fn))
        yield
    finally:
        for point, fn in attached:
            point.fns.remove(fn)  # by identity: contexts nested or closed out of order both work


def recorder(rec: Recording) -> Callable[[str], Callable[[torch.Tensor], torch.Tensor]]:
    """`make` for `attach`: the point named `name` adds each value to `rec`, detached, and passes it on."""
    def make(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
        def keep(value: torch.Tensor) -> torch.Tensor:
            rec.add(name, value.detach())
            return value

        return keep

    return make


@contextmanager
def record(model: nn.Module, *patterns: str) -> Iterator[Recording]:
    """Record the named points that `patterns` match, for every forward inside the context."""
    if not patterns:
        raise UserError("record needs at least one point name or pattern, e.g. 'blocks.*.out' ('**' is all)")
    rec = Recording()
    with attach(select(model, list(patterns)), recorder(rec)):
        yield rec


def _replacer(name: str, fns: list[Intervention]) -> Callable[[torch.Tensor], torch.Tensor]:
    def fn(value: torch.Tensor) -> torch.Tensor:
        for intervention in fns:
            new = intervention(value.clone(), name)
            if not isinstance(new, torch.Tensor) or new.shape != value.shape:
                got = tuple(new.shape) if isinstance(new, torch.Tensor) else type(new).__name__
                raise UserError(f"the intervention on {name} must return a tensor of shape "
                                 f"{tuple(value.shape)}, got {got}")
            value = new
        return value

    return fn


@contextmanager
def intervene(model: nn.Module, replacements: Mapping[str, Intervention]) -> Iterator[list[str]]:
    """Replace the value at each point a pattern matches by `fn(value, name)`; yields the names."""
    if not replacements:
        raise UserError("intervene needs at least one {point name or pattern: fn}")
    fns: dict[str, list[Intervention]] = {}
    points: dict[str, Point] = {}
    for pattern, fn in replacements.items():
        if not callable(fn):
            raise UserError(f"the intervention for {pattern!r} must be a function fn(value, name)")
        for name, point in select(model, [pattern]).items():
            fns.setdefault(name, []).append(fn)
            points[name] = point
    with attach(points, lambda name: _replacer(name, fns[name])):
        yield list(points)
