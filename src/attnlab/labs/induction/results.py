"""What the induction lab returns: one ModelResult for each model it trains (`lab.run_lab`), and
the lab's result (`lab.run`), from which the report (`report.py`) and the `--json` object are made."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from attnlab.labs.induction.ablation import CausalCheck
from attnlab.labs.induction.config import LabConfig
from attnlab.labs.induction.scores import HeadScores


@dataclass
class ModelResult:
    """One trained model: its evaluations, final scores and losses, and the causal check."""

    layers: int
    history: list[dict[str, Any]]
    scores: HeadScores
    first_copy_loss: float
    second_copy_loss: float
    check: CausalCheck
    formed_at_step: int | None
    elapsed_s: float

    def summary(self) -> dict[str, Any]:
        """This model's entry of the `--json` object."""
        def best(name: str) -> dict[str, Any]:
            layer, head, score = self.scores.best(name)
            return {"layer": layer, "head": head, "score": round(score, 4)}

        summary = {"layers": self.layers, "best_induction": best("induction"), "best_previous": best("previous"),
                   "first_copy_loss": round(self.first_copy_loss, 4),
                   "second_copy_loss": round(self.second_copy_loss, 4),
                   "ablate_detected": round(self.check.ablate_detected, 4),
                   "ablate_random": round(self.check.ablate_random, 4), "formed_at_step": self.formed_at_step}
        if self.check.path_removal is not None:
            summary["path_removal"] = {k: round(v, 4) for k, v in self.check.path_removal.items()}
        return summary


@dataclass
class InductionResult:
    """The lab's run: its settings, one ModelResult per entry of settings.layers, its wall time."""

    settings: LabConfig
    models: list[ModelResult]
    seconds: float

    def to_json(self) -> dict[str, Any]:
        """`attnlab induction --json`, summary.json and the web lab's answer: {"models": [...]}."""
        return {"models": [r.summary() for r in self.models]}
