"""The settings of one direct logit attribution, free of torch (`attnlab attribute --help` reads them)."""

from __future__ import annotations

from dataclasses import dataclass

from attnlab.config import setting
from attnlab.errors import UserError
from attnlab.labs.shape import Lab


@dataclass
class AttributeSettings:
    """Every field is a flag of `attnlab attribute` (TEXT may also come first, as before) and a key
    of `POST /api/attribute` (which names the run itself: the model the page has open)."""

    run: str = setting("", "a run folder holding a GPT (own, import-hf, a ladder rung)")
    text: str = setting("", "the text to look at")
    answer: str | None = setting(None, "the answer token, its text (none: the top next token)")
    wrong: str | None = setting(None, "the wrong token, its text (none: the second likeliest next token)")
    position: int | None = setting(None, "the position LD is read at (none: the last; -1 counts from the end)")

    def __post_init__(self) -> None:
        if not self.run:
            raise UserError("name the run folder: --run DIR")


# The tool: `attnlab attribute` and `POST /api/attribute` run it.
LAB = Lab("attribute", AttributeSettings, runner="attnlab.labs.attribution.run:run",
          reporter="attnlab.labs.attribution.run:report")
