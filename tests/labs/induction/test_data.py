"""attnlab.labs.induction.data: the training stream of chunks that come twice, its decks and its
echoes."""

import doctest

import pytest
import torch

from attnlab.labs.induction import data
from attnlab.labs.induction.data import add_echoes, fresh_tokens, repeat_stream


def test_repeat_stream_repeats_every_chunk_right_after_itself():
    s = repeat_stream(200, vocab_size=1000, min_len=3, max_len=3, generator=torch.Generator().manual_seed(0))
    assert s.shape == (200,)
    chunks = s[:198].view(-1, 2, 3)  # (chunks, copy, 3): with fixed length 3 the layout is regular
    assert torch.equal(chunks[:, 0], chunks[:, 1])
    with pytest.raises(ValueError, match="min_len"):
        repeat_stream(10, 10, 4, 3, torch.Generator())


def test_the_worked_example_in_the_docstring():
    result = doctest.testmod(data)
    assert result.attempted > 0 and result.failed == 0


def test_distinct_tokens_are_shuffled_decks_of_the_vocabulary():
    g = torch.Generator().manual_seed(0)
    tokens = fresh_tokens(50, 7, True, g)
    assert tokens.shape == (50,)
    for deck in tokens[:49].view(7, 7):  # every whole deck holds each token once
        assert sorted(deck.tolist()) == list(range(7))
    plain = fresh_tokens(1000, 7, False, g)
    assert 0 <= plain.min() and plain.max() <= 6 and len(set(plain[:14].tolist())) < 14  # repeats allowed


def test_echoes_copy_the_token_two_back_and_follow_chains():
    tokens = torch.tensor([10, 11, 12, 13, 14, 15])
    allowed = torch.tensor([False, False, True, True, True, True])
    g = torch.Generator().manual_seed(0)
    # every allowed token echoes: 2 <- 0, 3 <- 1, 4 <- 2 <- 0, 5 <- 3 <- 1
    assert add_echoes(tokens, allowed, 1.0, g).tolist() == [10, 11, 10, 11, 10, 11]
    assert add_echoes(tokens, allowed, 0.0, g).tolist() == tokens.tolist()
    only_4 = torch.tensor([False, False, False, False, True, False])
    assert add_echoes(tokens, only_4, 1.0, g).tolist() == [10, 11, 12, 13, 12, 15]


@pytest.mark.parametrize("echo", [0.0, 0.5])
def test_the_stream_is_chunk_gap_copy_by_the_drawn_lengths(echo):
    """Read back with the lengths and gaps the generator draws first: each unit is a chunk, a gap of
    other tokens, then the chunk again; an echoed new token equals the new token two before it."""
    n_tokens, vocab, lo, hi, max_gap = 300, 50, 2, 5, 3
    stream = repeat_stream(n_tokens, vocab, lo, hi, torch.Generator().manual_seed(4), max_gap=max_gap, distinct=True,
                           echo=echo).tolist()
    g = torch.Generator().manual_seed(4)
    units = n_tokens // (2 * lo) + 1
    lengths = torch.randint(lo, hi + 1, (units,), generator=g).tolist()
    gaps = torch.randint(0, max_gap + 1, (units,), generator=g).tolist()
    at, echoed = 0, 0
    for length, gap in zip(lengths, gaps):
        if at + 2 * length + gap > n_tokens:
            break
        chunk, fresh = stream[at:at + length], stream[at:at + length + gap]
        assert stream[at + length + gap:at + 2 * length + gap] == chunk
        echoed += sum(fresh[i] == fresh[i - 2] for i in range(2, len(fresh)))
        at += 2 * length + gap
    assert at > n_tokens - 2 * (hi + max_gap)  # the whole stream was read
    assert (echoed > 10) == (echo > 0)  # decks rarely repeat a token two back by chance


@pytest.mark.parametrize("kwargs, words", [(dict(max_gap=-1), "max_gap"), (dict(echo=1.0), "echo must be"),
                                           (dict(n_tokens=0), "n_tokens")])
def test_bad_stream_settings_are_refused(kwargs, words):
    args = dict(n_tokens=10, vocab_size=10, min_len=2, max_len=3, generator=torch.Generator())
    with pytest.raises(ValueError, match=words):
        repeat_stream(**{**args, **kwargs})
