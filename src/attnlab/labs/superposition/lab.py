"""`attnlab superposition` without the command line: train the sweep, keep each probability's best
instance, and measure it.

    >>> from attnlab.labs.superposition.config import ToyConfig
    >>> sweep = run_sweep(ToyConfig(probabilities=(0.05,), instances=2, steps=20))
    >>> [point.W.shape for point in sweep.points]          # (dims, features) per probability
    [torch.Size([2, 5])]
    >>> sorted(sweep.to_json())
    ['dims', 'features', 'sweep']
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from attnlab.labs.superposition.analysis import (dimensions_per_feature, feature_dimensionality, feature_norms,
                                                 neighbour_angles, represented, sharing)
from attnlab.labs.superposition.config import ToyConfig
from attnlab.labs.superposition.data import importance_weights
from attnlab.labs.superposition.train import EventFn, evaluate, train_toy


@dataclass
class SweepPoint:
    """One probability of the sweep: its best instance (lowest loss) and what it measures."""

    probability: float
    loss: float  # the best instance's importance-weighted error on fresh samples
    losses: list[float]  # every instance's, the best among them
    best: int  # which instance
    W: torch.Tensor  # (dims, features): the best instance's
    b: torch.Tensor  # (features,)

    @property
    def norms(self) -> list[float]:
        return feature_norms(self.W).tolist()

    @property
    def sharing(self) -> list[float]:
        return sharing(self.W).tolist()

    @property
    def dimensionality(self) -> list[float]:
        return feature_dimensionality(self.W).tolist()

    @property
    def dimensions_per_feature(self) -> float:
        return dimensions_per_feature(self.W)

    @property
    def represented(self) -> list[int]:
        return represented(self.W)

    @property
    def angles(self) -> list[float] | None:
        """Round the circle between represented features (2 dimensions only; None otherwise)."""
        return neighbour_angles(self.W) if self.W.shape[0] == 2 else None


@dataclass
class Sweep:
    cfg: ToyConfig
    points: list[SweepPoint]
    steps: int  # reached (fewer than cfg.steps after Ctrl-C)
    interrupted: bool
    elapsed_s: float

    def to_json(self) -> dict[str, Any]:
        """`attnlab superposition --json`, and the web lab's answer: see `summary`."""
        return summary(self)


def run_sweep(cfg: ToyConfig, on_event: EventFn | None = None) -> Sweep:
    """Train every probability's instances at once, then pick and measure each one's best."""
    model, probability, result = train_toy(cfg, on_event)
    importance = importance_weights(cfg.features, cfg.importance)
    losses = evaluate(model, probability, importance, seed=cfg.seed + 1)  # (I,): samples unseen in training
    points = []
    for k, p in enumerate(cfg.probabilities):
        own = losses[k * cfg.instances:(k + 1) * cfg.instances]  # (instances,)
        best = int(own.argmin())
        index = k * cfg.instances + best
        points.append(SweepPoint(p, own[best].item(), own.tolist(), best, model.W[index].detach().clone(),
                                 model.b[index].detach().clone()))
    return Sweep(cfg, points, result.step, result.interrupted, result.elapsed_s)


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def summary(sweep: Sweep) -> dict[str, Any]:
    """The `--json` object: {"features", "dims", "sweep": [{"probability", "loss", "W"}]}, with W the
    best instance's (dims × features) and any non-finite number as null."""
    return {"features": sweep.cfg.features, "dims": sweep.cfg.dims,
            "sweep": [{"probability": point.probability, "loss": _finite(point.loss),
                       "W": [[_finite(v) for v in row] for row in point.W.tolist()]} for point in sweep.points]}
