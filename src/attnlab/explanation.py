"""The record explain mode fills and a renderer prints: an `Explanation`, an ordered list of named
`Step`s, each a tensor with the formula that made it and which of its axes are tokens, keys and heads.

attnlab.look.explain computes the steps on the real code path; attnlab.viz.explain_text prints them.
This module holds only the data, so a renderer can read it without importing what made it.

    >>> ex = Explanation(title="a sum")
    >>> total = ex.add("out", torch.tensor([1.0, 2.0]).sum(), "1 + 2")
    >>> ex.names(), ex["out"].item()
    (['out'], 3.0)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class Step:
    name: str
    value: torch.Tensor
    formula: str
    token_dim: int | None = None  # the axis that indexes query tokens, if any
    key_dim: int | None = None  # the axis that indexes key tokens (scores, weights)
    head_dim: int | None = None  # the axis that indexes heads (q, k, v, scores, weights, z)


@dataclass
class Explanation:
    steps: list[Step] = field(default_factory=list)
    tokens: list[str] | None = None  # a label per token (query rows and key columns)
    title: str = ""
    head: int | None = None  # the head shown for steps that hold every head

    def add(self, name: str, value: torch.Tensor, formula: str, token_dim: int | None = None,
            key_dim: int | None = None, head_dim: int | None = None) -> torch.Tensor:
        self.steps.append(Step(name, value.detach(), formula, token_dim, key_dim, head_dim))
        return value

    def __getitem__(self, name: str) -> torch.Tensor:
        for step in self.steps:
            if step.name == name:
                return step.value
        raise KeyError(f"no step {name!r}; steps: {', '.join(self.names())}")

    def names(self) -> list[str]:
        return [s.name for s in self.steps]
