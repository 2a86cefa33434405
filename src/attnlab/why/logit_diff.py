"""The metric of patching and attribution: the logit difference at one position.

    LD = logit[answer] - logit[wrong]        at position `position` (default: the last)

By default `answer` is the clean run's top next token and `wrong` the corrupt run's, so LD is
positive on the clean text and negative on the corrupt one. A patch is scored by how much of the
gap it closes:

    normalised(LD) = (LD - LD_corrupt) / (LD_clean - LD_corrupt)     1: the clean answer, 0: the corrupt one

    >>> import torch
    >>> logits = torch.tensor([[[0., 1., 3.]]])        # (B, T, V): one position, three tokens
    >>> logit_diff(logits, 0, answer=2, wrong=1).tolist()
    [2.0]
    >>> normalised(torch.tensor([1.0]), ld_clean=2.0, ld_corrupt=-2.0).tolist()
    [0.75]
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from attnlab.errors import UserError


def logit_diff(logits: torch.Tensor, position: int, answer: int, wrong: int) -> torch.Tensor:
    """logits (B, T, V) -> LD (B,): logit[answer] - logit[wrong] at `position`."""
    at = logits[:, position].float()  # (B, V)
    return at[:, answer] - at[:, wrong]


def normalised(ld: torch.Tensor, ld_clean: float, ld_corrupt: float) -> torch.Tensor:
    """(LD - LD_corrupt) / (LD_clean - LD_corrupt), elementwise."""
    return (ld - ld_corrupt) / (ld_clean - ld_corrupt)


@dataclass
class Pair:
    """A clean and a corrupt text of the same length, and the metric read at `position`.

    clean, corrupt   ids (1, T)
    position         where LD is read, 0 <= position < T
    answer, wrong    token ids
    """

    clean: torch.Tensor
    corrupt: torch.Tensor
    position: int
    answer: int
    wrong: int

    def ld(self, logits: torch.Tensor) -> torch.Tensor:
        """LD (B,) of logits (B, T, V)."""
        return logit_diff(logits, self.position, self.answer, self.wrong)


def check_position(position: int | None, T: int) -> int:
    """The position LD is read at: `None` is the last; a negative one counts from the end."""
    if position is None:
        return T - 1
    if not -T <= position < T:
        raise UserError(f"--position {position} is out of range: the texts have {T} tokens (0..{T - 1}, or -1 for the last)",
                        code="out_of_range")
    return position % T


@torch.no_grad()
def make_pair(model: torch.nn.Module, clean: torch.Tensor, corrupt: torch.Tensor, position: int | None = None,
              answer: int | None = None, wrong: int | None = None) -> Pair:
    """The pair, with the defaults filled in: the last position, the clean run's top next token as
    `answer` and the corrupt run's as `wrong`. The texts must have the same length and LD must
    differ between them (otherwise nothing can be normalised)."""
    if clean.shape != corrupt.shape:
        raise UserError(f"the clean text is {clean.shape[1]} tokens long and the corrupt text {corrupt.shape[1]}: "
                        f"patching swaps activations position by position, so both need the same length", code="bad_value")
    position = check_position(position, clean.shape[1])
    if answer is None or wrong is None:
        clean_logits, _ = model(clean)
        corrupt_logits, _ = model(corrupt)
        answer = int(clean_logits[0, position].argmax()) if answer is None else answer
        wrong = int(corrupt_logits[0, position].argmax()) if wrong is None else wrong
    if answer == wrong:
        raise UserError(f"the answer and the wrong token are the same token (id {answer}): the logit difference "
                        f"would be 0 on both texts; pick --answer and --wrong, or a corrupt text the model "
                        f"answers differently", code="bad_value")
    return Pair(clean, corrupt, position, answer, wrong)
