"""The settings of one head ablation, free of torch (`attnlab ablate --help` reads them)."""

from __future__ import annotations

from dataclasses import dataclass

from attnlab.config import setting
from attnlab.errors import UserError
from attnlab.labs.shape import Lab

SPLITS = ("train", "val")
MAX_TOP = 100


def parse_heads(text: str) -> list[tuple[int, int]]:
    """'0.1,2.3' -> [(0, 1), (2, 3)]; '' -> [] (no head: the set of none, the baseline).

    >>> parse_heads("0.1, 2.3")
    [(0, 1), (2, 3)]
    >>> parse_heads("1-0")
    Traceback (most recent call last):
    ...
    attnlab.errors.UserError: --heads: cannot read '1-0'; write LAYER.HEAD pairs, e.g. 0.1,2.3
    """
    heads = []
    for part in text.split(",") if text.strip() else []:
        layer, dot, head = part.strip().partition(".")
        if not (dot and layer.isdigit() and head.isdigit()):
            raise UserError(f"--heads: cannot read {part.strip()[:40]!r}; write LAYER.HEAD pairs, e.g. 0.1,2.3",
                            code="bad_value")
        heads.append((int(layer), int(head)))
    if len(set(heads)) != len(heads):
        raise UserError("--heads names a head twice", code="bad_value")
    return heads


@dataclass
class AblateSettings:
    """Every field is a flag of `attnlab ablate` and a key of the web lab's Ablate panel, which
    names the run itself (the model the page has open), measures on its text with the top 10 next
    tokens, and sends "heads" as [layer, head] pairs (serve/api_tools.py reads them)."""

    run: str = setting("", "a training run folder (runs/<name>) holding a GPT")
    text: str | None = setting(None, "measure the loss on this text")
    split: str | None = setting(None, "measure on batches of the run's own split: train or val")
    batches: int = setting(10, "with --split: how many batches (the run's batch size)")
    seed: int = setting(0, "with --split: which batches (as estimate_loss draws them)")
    corpus: str | None = setting(None, "with --split: the text the run was trained on, for a run whose config.json "
                                       "names it by a relative path (runs made before attnlab stored absolute paths)")
    heads: str | None = setting(None, "also ablate these heads together (zeroed), LAYER.HEAD pairs: 0.1,2.3")
    each: bool = setting(True, "every head zeroed and mean-replaced in turn, two forwards a head (--no-each: only "
                               "the --heads set)")
    top: int = setting(0, f"with --text: the N likeliest next tokens at --position with and without the --heads "
                          f"set, 0..{MAX_TOP} (0: none; the web lab shows 10)")
    position: int | None = setting(None, "with --top: the position whose next token is shown, counted from 0 "
                                         "(none: the last)")

    def __post_init__(self) -> None:
        if not self.run:
            raise UserError("name the run folder: --run DIR")
        if (self.text is None) == (self.split is None):
            raise UserError("give one of --text TEXT or --split train|val: what the loss is measured on",
                            code="bad_value")
        if self.split is not None and self.split not in SPLITS:
            raise UserError(f"--split: invalid choice {self.split!r} (choose from {', '.join(SPLITS)})",
                            code="bad_value")
        if self.corpus is not None and self.split is None:
            raise UserError("--corpus goes with --split (the text of the run's own split)", code="bad_value")
        if self.batches < 1:
            raise UserError(f"--batches must be at least 1, got {self.batches}", code="out_of_range")
        if not 0 <= self.top <= MAX_TOP:
            raise UserError(f"--top is {self.top}; it must be in 0..{MAX_TOP}", code="out_of_range")
        if self.top and self.text is None:
            raise UserError("--top goes with --text (the next tokens of one text)", code="bad_value")
        if self.position is not None and not self.top:
            raise UserError("--position goes with --top (where the next tokens are read)", code="bad_value")
        self.head_pairs()

    def head_pairs(self) -> list[tuple[int, int]] | None:
        """The --heads set as (layer, head) pairs; None: no set asked for."""
        return None if self.heads is None else parse_heads(self.heads)


# The tool: `attnlab ablate` and the web lab's Ablate panel run it.
LAB = Lab("ablate", AblateSettings, runner="attnlab.labs.ablation.run:run",
          reporter="attnlab.labs.ablation.run:report")
