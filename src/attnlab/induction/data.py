"""The training stream for the induction lab: random tokens in which every chunk comes twice.

    chunks [7 3], [6 6 9]; gaps [1], []:   7 3 1 7 3 6 6 9 6 6 9 ...

A chunk is `min_len .. max_len` random tokens (drawn uniformly, with replacement); after it come
`0 .. max_gap` other random tokens, then a copy of the chunk. Training windows cut from this stream (`attnlab.data.get_batch`)
start anywhere, so a repeat can begin at any position of a window and lie any distance behind: the
only way to predict the copied tokens is to find, by content, where the current token occurred
before and read what came after it, which is what an induction head does. A fixed layout (always
n tokens, then the same n) would let one layer solve it by position alone.

The random tokens carry no other structure (no bigrams, no frequencies), so half of the stream is
unpredictable (loss log V) and the other half is predictable from context only.

>>> repeat_stream(12, vocab_size=10, min_len=2, max_len=3, generator=torch.Generator().manual_seed(0), max_gap=2)
tensor([7, 3, 1, 7, 3, 6, 6, 9, 6, 6, 9, 8])
"""

from __future__ import annotations

import torch


def repeat_stream(n_tokens: int, vocab_size: int, min_len: int, max_len: int, generator: torch.Generator,
                  max_gap: int = 0) -> torch.Tensor:
    """(n_tokens,) int64 ids: random chunks of min_len..max_len tokens, each followed by 0..max_gap
    other random tokens and then by a copy of itself."""
    if not 1 <= min_len <= max_len:
        raise ValueError(f"need 1 <= min_len ({min_len}) <= max_len ({max_len})")
    if n_tokens < 1 or vocab_size < 1 or max_gap < 0:
        raise ValueError(f"n_tokens ({n_tokens}) and vocab_size ({vocab_size}) must be positive, "
                         f"max_gap ({max_gap}) >= 0")
    n_units = n_tokens // (2 * min_len) + 1  # enough units even if all are the shortest
    lengths = torch.randint(min_len, max_len + 1, (n_units,), generator=generator)  # (K,) chunk lengths
    gaps = torch.randint(0, max_gap + 1, (n_units,), generator=generator)  # (K,)
    fresh_len = lengths + gaps  # a unit's new tokens: the chunk, then the gap
    fresh = torch.randint(vocab_size, (int(fresh_len.sum()),), generator=generator)
    fresh_start = torch.cumsum(fresh_len, 0) - fresh_len  # (K,): where unit k's new tokens begin
    unit_len = fresh_len + lengths  # chunk, gap, copy of the chunk
    unit = torch.repeat_interleave(torch.arange(n_units), unit_len)  # (N',): the unit of each position
    offset = torch.arange(len(unit)) - (torch.cumsum(unit_len, 0) - unit_len)[unit]  # position inside the unit
    copy = offset >= fresh_len[unit]  # the last `length` positions re-read the chunk
    offset = torch.where(copy, offset - fresh_len[unit], offset)
    return fresh[fresh_start[unit] + offset][:n_tokens]
