"""The settings of one `attnlab why`, free of torch (`attnlab why --help` reads them)."""

from __future__ import annotations

from dataclasses import dataclass

from attnlab.config import setting
from attnlab.errors import UserError
from attnlab.labs.shape import Lab

MODELS = ("minilm",)
ROLES = (("from", "the token that looks"), ("to", "the token it may look at"), ("vs", "a rival token"))


@dataclass
class WhySettings:
    """Every field is a flag of `attnlab why` (TEXT may also come first; --from, --to and --vs name
    the tokens by what they read) and a key of the web lab's Why panel, which names the model itself
    and the tokens by position (its "from", "to", "vs": serve/api_tools.py reads them)."""

    run: str | None = setting(None, "a training run folder (runs/<name>) holding a GPT")
    model: str | None = setting(None, "a pretrained model: minilm = all-MiniLM-L6-v2")
    text: str = setting("", "the text to look at")
    from_token: str | None = setting(None, "the token that looks (a query), by what it reads; a word that occurs "
                                           "more than once means its first occurrence")
    to_token: str | None = setting(None, "the token it may look at, by what it reads")
    vs_token: str | None = setting(None, "a rival token to compare with, by what it reads")
    from_position: int | None = setting(None, "the token that looks, by its position from 0 (instead of --from)")
    to_position: int | None = setting(None, "the token it may look at, by its position (instead of --to)")
    vs_position: int | None = setting(None, "a rival token, by its position (instead of --vs)")

    def __post_init__(self) -> None:
        if (self.run is None) == (self.model is None):
            raise UserError("name one model: --run DIR or --model minilm", code="no_model")
        if self.model is not None and self.model not in MODELS:
            raise UserError(f"--model must be one of {', '.join(MODELS)}, got {self.model!r}", code="bad_value")
        for role, what in ROLES:
            word, position = getattr(self, f"{role}_token"), getattr(self, f"{role}_position")
            if word is not None and position is not None:
                raise UserError(f"--{role} and --{role}-position both name {what}: give one", code="bad_value")
            if role != "vs" and word is None and position is None:
                raise UserError(f"name {what}: --{role} TOKEN (or --{role}-position N)", code="missing")


# The tool: `attnlab why` and the web lab's Why panel run it.
LAB = Lab("why", WhySettings, runner="attnlab.labs.why.run:run", reporter="attnlab.labs.why.run:report")
