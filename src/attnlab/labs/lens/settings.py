"""The settings of one logit lens, free of torch (`attnlab lens --help` reads them)."""

from __future__ import annotations

from dataclasses import dataclass

from attnlab.config import setting
from attnlab.errors import UserError
from attnlab.labs.shape import Lab

MAX_K = 20


@dataclass
class LensSettings:
    """Every field is a flag of `attnlab lens` (TEXT may also come first, as before) and a key of
    the web lab's Lens panel (which names the run itself: the model the page has open)."""

    run: str = setting("", "a training run folder (runs/<name>) holding a GPT")
    text: str = setting("", "the text to look at")
    k: int = setting(5, f"the likeliest next tokens kept for every cell, 1..{MAX_K} (top_k in --json)")

    def __post_init__(self) -> None:
        if not self.run:
            raise UserError("name the run folder: --run DIR")
        if not 1 <= self.k <= MAX_K:
            raise UserError(f"--k is {self.k}; it must be in 1..{MAX_K}", code="out_of_range")


# The tool: `attnlab lens` and the web lab's Lens panel run it.
LAB = Lab("lens", LensSettings, runner="attnlab.labs.lens.run:run", reporter="attnlab.labs.lens.run:report")
