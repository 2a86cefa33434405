"""The training stream for the induction lab: random tokens in which every chunk comes twice.

    chunks [7 3], [6 6 9]; gaps [1], []:   7 3 1 7 3 6 6 9 6 6 9 ...

A chunk is `min_len .. max_len` random tokens; after it come `0 .. max_gap` other random tokens,
then a copy of the chunk. Training windows cut from this stream (`attnlab.train.data.get_batch`) start
anywhere, so a repeat can begin at any position of a window and lie any distance behind: the only
way to predict the copied tokens is to find, by content, where the current token occurred before
and read what came after it, which is what an induction head does. A fixed layout (always n
tokens, then the same n) would let one layer solve it by position alone.

Two options shape the new (not copied) tokens:

- `distinct`: draw them as shuffled decks of the vocabulary, so a token rarely occurs twice in a
  window except in a copy; "where did this token occur before" then has one answer.
- `echo`: the probability that a new token repeats the one two places before it (`a b a`). That
  makes a head that looks one token back, and copies what it sees, useful on its own; the
  induction head is later built on such a previous-token head.

>>> g = torch.Generator().manual_seed(0)
>>> repeat_stream(12, vocab_size=10, min_len=2, max_len=3, generator=g, max_gap=2)
tensor([7, 3, 1, 7, 3, 6, 6, 9, 6, 6, 9, 8])
"""

from __future__ import annotations

import torch
from attnlab.errors import UserError


def fresh_tokens(count: int, vocab_size: int, distinct: bool, generator: torch.Generator) -> torch.Tensor:
    """(count,) random ids: uniform with replacement, or (`distinct`) shuffled decks of the vocabulary."""
    if distinct:
        decks = count // vocab_size + 1
        return torch.argsort(torch.rand(decks, vocab_size, generator=generator), dim=1).view(-1)[:count]
    return torch.randint(vocab_size, (count,), generator=generator)


def add_echoes(tokens: torch.Tensor, allowed: torch.Tensor, p: float, generator: torch.Generator) -> torch.Tensor:
    """Where `allowed` (N,) and with probability p, a token becomes the token two places before it.

    Echoes of echoes follow the chain back to a token that is not one (pointer jumping)."""
    source = torch.arange(len(tokens))  # (N,)
    echo = allowed & (torch.rand(len(tokens), generator=generator) < p)
    source[echo] -= 2
    while True:
        jumped = source[source]
        if torch.equal(jumped, source):
            return tokens[source]
        source = jumped


def repeat_stream(n_tokens: int, vocab_size: int, min_len: int, max_len: int, generator: torch.Generator,
                  max_gap: int = 0, distinct: bool = False, echo: float = 0.0) -> torch.Tensor:
    """(n_tokens,) int64 ids: random chunks of min_len..max_len tokens, each followed by 0..max_gap
    other random tokens and then by a copy of itself."""
    if not 1 <= min_len <= max_len:
        raise UserError(f"need 1 <= min_len ({min_len}) <= max_len ({max_len})")
    if n_tokens < 1 or vocab_size < 1 or max_gap < 0:
        raise UserError(f"n_tokens ({n_tokens}) and vocab_size ({vocab_size}) must be positive, "
                         f"max_gap ({max_gap}) >= 0")
    if not 0.0 <= echo < 1.0:
        raise UserError(f"echo must be a probability in [0, 1), got {echo}")
    n_units = n_tokens // (2 * min_len) + 1  # enough units even if all are the shortest
    lengths = torch.randint(min_len, max_len + 1, (n_units,), generator=generator)  # (K,) chunk lengths
    gaps = torch.randint(0, max_gap + 1, (n_units,), generator=generator)  # (K,)
    fresh_len = lengths + gaps  # a unit's new tokens: the chunk, then the gap
    fresh_start = torch.cumsum(fresh_len, 0) - fresh_len  # (K,): where unit k's new tokens begin
    fresh = fresh_tokens(int(fresh_len.sum()), vocab_size, distinct, generator)  # (F,)
    if echo > 0:  # within a unit the new tokens are contiguous in the stream, so "two back" is too
        inside = torch.arange(len(fresh)) - torch.repeat_interleave(fresh_start, fresh_len)  # (F,)
        fresh = add_echoes(fresh, inside >= 2, echo, generator)
    unit_len = fresh_len + lengths  # chunk, gap, copy of the chunk
    unit = torch.repeat_interleave(torch.arange(n_units), unit_len)  # (N',): the unit of each position
    offset = torch.arange(len(unit)) - (torch.cumsum(unit_len, 0) - unit_len)[unit]  # position inside the unit
    copy = offset >= fresh_len[unit]  # the last `length` positions re-read the chunk
    offset = torch.where(copy, offset - fresh_len[unit], offset)
    return fresh[fresh_start[unit] + offset][:n_tokens]
