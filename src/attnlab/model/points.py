"""Named points: the places in a forward pass where `attnlab.record` and `attnlab.intervene` attach.

A module lists its points once, `self.points = Points("ln1", "resid_mid", "ln2", "out")`, and
passes each intermediate through one on its way: `x = self.points.out(x)`. A point's full name
is the module's path in the model followed by the point's own name, so it reads like the code:
the `out` point of `model.blocks[3]` is `blocks.3.out`, the `weights` point of
`model.blocks[3].attn` is `blocks.3.attn.weights`.

With nothing attached a point hands its value straight back (one loop over an empty list), so
an unobserved model runs as it would without points. Attached functions run in the order they
were attached; each receives the value and returns the value to pass on.

>>> import torch, torch.nn as nn
>>> class Twice(nn.Module):
...     def __init__(self):
...         super().__init__()
...         self.points = Points("out")
...     def forward(self, x):
...         return self.points.out(2 * x)
>>> model = nn.Sequential(Twice())
>>> list(named_points(model))
['0.out']
"""

from __future__ import annotations

from typing import Callable, Iterator

import torch
import torch.nn as nn
from attnlab.errors import UserError


class Point:
    """One named place: `point(value)` runs the attached functions in order (none: returns value)."""

    __slots__ = ("fns",)

    def __init__(self) -> None:
        self.fns: list[Callable[[torch.Tensor], torch.Tensor]] = []

    @property
    def active(self) -> bool:
        """Whether anything is attached (attention takes its explicit path for scores/weights)."""
        return bool(self.fns)

    def __call__(self, value: torch.Tensor) -> torch.Tensor:
        for fn in self.fns:
            value = fn(value)
        return value


class Points:
    """A module's points, as attributes: `Points("q", "k")` has `.q` and `.k`, in that order."""

    def __init__(self, *names: str) -> None:
        for name in names:
            if not name.isidentifier() or hasattr(Points, name):
                raise UserError(f"{name!r} cannot name a point")
        self._names = names
        for name in names:
            setattr(self, name, Point())

    def items(self) -> Iterator[tuple[str, Point]]:
        for name in self._names:
            yield name, getattr(self, name)


def named_points(model: nn.Module) -> dict[str, Point]:
    """Every point in `model`, by full dotted name, in module order (a module's own points before
    its children's; a recording lists them in forward order)."""
    found: dict[str, Point] = {}
    for path, module in model.named_modules():
        points = getattr(module, "points", None)
        if isinstance(points, Points):
            for name, point in points.items():
                found[f"{path}.{name}" if path else name] = point
    return found
