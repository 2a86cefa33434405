"""attnlab.model.seq2seq_search: greedy decoding against a loop of argmaxes written here, and beam
search with an end token against every sequence scored by teacher forcing (nothing pruned).
Greedy = beam width 1, exhaustive search without an end token, and continuous values fed back."""

import itertools

import pytest
import torch

from seq2seq_helpers import seq2seq_token_model
from train_helpers import one_thread  # noqa: F401 (an autouse fixture)

from attnlab.config import Seq2SeqConfig
from attnlab.labs.seq2seq.tasks import BOS, EOS, plus2_regression_data
from attnlab.model.seq2seq import EncoderDecoder
from attnlab.model.seq2seq_search import beam_search, greedy_decode


def token_model(seed: int, vocab: int, norm: str = "post") -> EncoderDecoder:
    torch.manual_seed(seed)
    return EncoderDecoder(Seq2SeqConfig(src_vocab_size=vocab, tgt_vocab_size=vocab, max_seq_len=16, d_model=16,
                                        n_heads=2, n_encoder_layers=1, n_decoder_layers=1, d_ff=32, norm=norm,
                                        dropout=0.0)).eval()


@torch.no_grad()
def argmax_loop(model: EncoderDecoder, src: torch.Tensor, start: int, steps: int) -> torch.Tensor:
    """The whole prefix run through the model again each step, its last row's argmax appended."""
    ys = torch.full((src.shape[0], 1), start)
    for _ in range(steps):
        ys = torch.cat([ys, model(src, ys)[0][:, -1].argmax(-1, keepdim=True)], dim=1)
    return ys[:, 1:]


def test_greedy_is_the_argmax_loop_and_after_the_end_token_only_end_tokens():
    model = token_model(seed=0, vocab=6)
    src = torch.randint(0, 6, (4, 5))
    free = argmax_loop(model, src, start=0, steps=6)
    assert torch.equal(greedy_decode(model, src, 0, 6), free)
    assert len(set(free.flatten().tolist())) > 1  # the test below means something
    eos = int(free[0, 2])
    expected = free.clone()
    for row in expected:
        hits = (row == eos).nonzero()
        if len(hits):
            row[int(hits[0]):] = eos
    got = greedy_decode(model, src, 0, 6, eos=eos)
    assert got.shape == (4, 6) and torch.equal(got, expected)


def test_greedy_stops_early_when_every_row_has_ended_and_still_returns_max_len():
    model = token_model(seed=0, vocab=6, norm="pre")
    src = torch.randint(0, 6, (3, 5))
    first = argmax_loop(model, src, start=0, steps=1)[:, 0]
    assert len(set(first.tolist())) == 1  # every row's first token is the same: make it the end
    eos = int(first[0])
    assert torch.equal(greedy_decode(model, src, 0, 9, eos=eos), torch.full((3, 9), eos))


@torch.no_grad()
def scored_by_teacher_forcing(model, src, start, seqs, eos) -> list[float]:
    """Σ log p of each token up to and including the first end token (after it, nothing is paid)."""
    tgt = torch.tensor([[start, *seq[:-1]] for seq in seqs])  # (N, T): every sequence, shifted right
    logp = model(src.expand(len(seqs), -1), tgt)[0].log_softmax(-1)  # (N, T, V)
    scores = []
    for n, seq in enumerate(seqs):
        end = seq.index(eos) + 1 if eos in seq else len(seq)
        scores.append(sum(logp[n, t, seq[t]].item() for t in range(end)))
    return scores


@pytest.mark.parametrize("V, T, seed, eos", [(3, 4, 1, 1), (4, 3, 6, 3)])  # cases where greedy is wrong
def test_a_beam_wide_enough_to_prune_nothing_returns_the_best_sequence_with_its_end_token(V, T, seed, eos):
    model = token_model(seed=seed, vocab=V)
    src = torch.randint(0, V, (2, 5), generator=torch.Generator().manual_seed(100 + seed))
    best = beam_search(model, src, 0, T, beam_width=V ** (T - 1), eos=eos)
    assert not torch.equal(best, greedy_decode(model, src, 0, T, eos=eos))
    seqs = [seq for seq in itertools.product(range(V), repeat=T)  # after the end token only end tokens
            if eos not in seq or all(token == eos for token in seq[seq.index(eos):])]
    for b in range(2):
        scores = scored_by_teacher_forcing(model, src[b:b + 1], 0, seqs, eos)
        assert tuple(best[b].tolist()) == seqs[max(range(len(seqs)), key=scores.__getitem__)]


def test_beam_width_must_be_at_least_one():
    model = token_model(seed=0, vocab=4)
    with pytest.raises(ValueError, match="beam_width must be >= 1, got 0"):
        beam_search(model, torch.zeros(1, 3, dtype=torch.long), 0, 4, beam_width=0)


def test_beam_width_1_equals_greedy():
    model = seq2seq_token_model(seed=1)
    src = torch.randint(3, 9, (5, 6))
    greedy = model.greedy_decode(src, BOS, 7, eos=EOS)
    torch.testing.assert_close(model.beam_search(src, BOS, 7, beam_width=1, eos=EOS), greedy)
    assert greedy.shape == (5, 7)


def test_full_beam_finds_the_most_probable_sequence():
    """With beam_width >= V**(T-1) nothing is ever pruned, so beam search is exhaustive."""
    model = seq2seq_token_model(seed=2, vocab=3)
    src = torch.randint(0, 3, (2, 4))
    T = 3
    best = model.beam_search(src, 0, T, beam_width=27)
    with torch.no_grad():
        memory = model.encode(src)
        for b in range(2):
            scores = {}
            for seq in itertools.product(range(3), repeat=T):
                ids = torch.tensor([[0, *seq]])
                logp = model.decode(ids[:, :-1], memory[b:b + 1]).log_softmax(-1)  # (1, T, V)
                scores[seq] = logp[0, torch.arange(T), ids[0, 1:]].sum().item()
            assert tuple(best[b].tolist()) == max(scores, key=scores.get)


def test_continuous_greedy_feeds_back_predictions():
    model = EncoderDecoder(Seq2SeqConfig(dropout=0.0)).eval()
    src, _, _ = plus2_regression_data()
    auto = model.greedy_decode(src, 0.0, 5)  # (1, 5, 1)
    tgt = torch.cat([torch.zeros(1, 1, 1), auto[:, :-1]], dim=1)  # its own predictions, shifted right
    with torch.no_grad():
        torch.testing.assert_close(model(src, tgt)[0], auto)
    with pytest.raises(ValueError, match="beam search"):
        model.beam_search(src, 0, 5)
