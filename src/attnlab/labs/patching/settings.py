"""The settings of one patching run, free of torch (`attnlab patch --help` reads them)."""

from __future__ import annotations

from dataclasses import dataclass

from attnlab.config import setting
from attnlab.errors import UserError
from attnlab.labs.shape import Lab

POINTS = ("resid", "attn", "mlp", "heads", "heads-pos")
DEFAULT_POINTS = ("resid", "attn", "mlp", "heads")  # mlp left out for an attention-only model
METHODS = ("exact", "attribution", "both")
DIRECTIONS = ("denoising", "noising")
ABLATIONS = ("zero", "mean")


@dataclass
class PatchSettings:
    """Every field is a flag of `attnlab patch` and a key of the web lab's Patch panel (which names
    the run itself: the model the page has open)."""

    run: str = setting("", "a run folder holding a GPT (own, import-hf, a ladder rung)")
    clean: str = setting("", "the text whose answer is measured")
    corrupt: str = setting("", "a text of the same token length, answered otherwise")
    points: tuple[str, ...] = setting((), f"the tables, from {', '.join(POINTS)} (none: "
                                          f"{','.join(DEFAULT_POINTS)}, mlp left out for an attention-only model)")
    method: str = setting("exact", "exact: one forward per cell; attribution: gradients, one forward and backward "
                                   "per run; both: both, and their correlation")
    direction: str = setting("denoising", "denoising: clean activations into the corrupt run; noising: corrupt "
                                          "ones into the clean run")
    answer: str | None = setting(None, "the answer token, its text (none: the clean run's top next token)")
    wrong: str | None = setting(None, "the wrong token, its text (none: the corrupt run's top next token)")
    position: int | None = setting(None, "the position LD is read at (none: the last; -1 counts from the end)")
    path: str | None = setting(None, "path patching, e.g. 0.3->1.2.k, 0.*->1.*.q, 1.0->3.2.v")
    path_ablate: str | None = setting(None, "with --path: on the clean run, remove the sender's output from that "
                                            "path only: zero or mean")

    def __post_init__(self) -> None:
        self.points = tuple(self.points)
        if not self.run:
            raise UserError("name the run folder: --run DIR")
        for name, value, choices in (("method", self.method, METHODS), ("direction", self.direction, DIRECTIONS),
                                     ("path_ablate", self.path_ablate or "zero", ABLATIONS)):
            if value not in choices:
                raise UserError(f"--{name.replace('_', '-')} must be one of {', '.join(choices)}, got {value!r}",
                                code="bad_value")
        if self.path_ablate is not None and self.path is None:
            raise UserError("--path-ablate goes with --path (it removes a sender's output from one path)",
                            code="bad_value")
        for point in self.points:
            if point not in POINTS:
                raise UserError(f"--points: unknown point {point!r}; choose from {', '.join(POINTS)}", code="bad_value")
        if len(set(self.points)) != len(self.points):
            raise UserError("--points names a point twice", code="bad_value")

    def chosen_points(self, attention_only: bool) -> list[str]:
        """The tables to make: the points given, or the default ones the model has."""
        if not self.points:
            return [p for p in DEFAULT_POINTS if not (attention_only and p == "mlp")]
        if attention_only and "mlp" in self.points:
            raise UserError("the point mlp needs feed-forward layers; this model is attention-only", code="bad_value")
        return list(self.points)


# The tool: `attnlab patch` and the web lab's Patch panel run it.
LAB = Lab("patch", PatchSettings, runner="attnlab.labs.patching.run:run", reporter="attnlab.labs.patching.run:report")
