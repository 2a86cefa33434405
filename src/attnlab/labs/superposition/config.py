"""The toy model's settings, free of torch so that `attnlab superposition --help` can show them
without loading it."""

from __future__ import annotations

import math
from dataclasses import dataclass

from attnlab.config import setting
from attnlab.errors import UserError
from attnlab.labs.shape import Lab


@dataclass
class ToyConfig:
    """n features squeezed into m dimensions, trained at each feature probability P of a sweep.

    Every probability gets `instances` models from different random starts, all trained at once
    as one batched tensor; the best of them (lowest loss) stands for that probability. Each field
    is a flag of `attnlab superposition` and a key of the web lab's Superposition panel.
    """

    features: int = setting(5, "n, the number of features")
    dims: int = setting(2, "m, the dimensions they pass through")
    probabilities: tuple[float, ...] = setting((1.0, 0.3, 0.1, 0.05),  # dense -> sparse
                                               "the sweep: the chance that each feature is present, one or "
                                               "more values, dense to sparse")
    importance: float = setting(0.9, "feature i weighs IMPORTANCE ** i in the loss; 1: all equal (the paper's 0.9)")
    instances: int = setting(8, "models trained from different starts per probability; the best is kept")
    steps: int = setting(2000, "Adam steps")
    batch_size: int = setting(256, "fresh samples per step")
    lr: float = setting(1e-2, "Adam learning rate, constant")
    seed: int = setting(0, "the starts and the samples")

    def __post_init__(self) -> None:
        self.probabilities = tuple(self.probabilities)
        for name in ("features", "dims", "instances", "steps", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UserError(f"--{name.replace('_', '-')} must be a whole number >= 1, got {value}")
        if not self.probabilities:
            raise UserError("--probability needs at least one value")
        for p in self.probabilities:
            if not 0.0 < p <= 1.0:  # also refuses nan
                raise UserError(f"--probability must be in (0, 1] (the chance that a feature is present), got {p}")
        if not (self.importance > 0 and math.isfinite(self.importance)):
            raise UserError(f"--importance must be a finite number > 0 (feature i weighs IMPORTANCE ** i), "
                            f"got {self.importance}")
        last = (self.features - 1) * math.log10(self.importance)  # log10 of the last feature's weight
        if abs(last) > 30:  # float32 would round such weights to 0 or make the other features' vanish
            raise UserError(f"--importance {self.importance} gives feature {self.features - 1} a weight of "
                            f"1e{last:.0f}: choose a value nearer 1")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise UserError(f"--lr must be a finite number > 0, got {self.lr}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise UserError(f"--seed must be a whole number >= 0, got {self.seed}")


# The lab: `attnlab superposition` and the web lab's Superposition panel run it.
LAB = Lab("superposition", ToyConfig, runner="attnlab.labs.superposition.lab:run_sweep",
          reporter="attnlab.labs.superposition.report:report")
