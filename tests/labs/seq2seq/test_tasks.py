"""attnlab.labs.seq2seq.tasks: the token tasks' rules and layout, the held-out split, the
cross-attention's diagonal mass and its capture."""

import pytest
import torch

from seq2seq_helpers import seq2seq_token_model
from train_helpers import one_thread  # noqa: F401 (an autouse fixture)

from attnlab.config import Seq2SeqConfig
from attnlab.labs.seq2seq.tasks import (BOS, EOS, TokenTask, capture_cross_attention, cross_attention_alignment,
                                        diagonal_mass, exact_match, plus2_regression_data)
from attnlab.model.points import named_points


def test_task_rules_and_layout():
    values = torch.tensor([[3, 1, 4, 0], [2, 7, 0, 0]])
    lengths = torch.tensor([3, 2])
    rules = {"copy": [[3, 1, 4], [2, 7]], "reverse": [[4, 1, 3], [7, 2]], "sort": [[1, 3, 4], [2, 7]],
             "plus2": [[5, 3, 6], [4, 9]]}
    for name, want in rules.items():
        batch = TokenTask(name, vocab=8, max_len=4).encode(values, lengths)
        task = TokenTask(name, vocab=8, max_len=4)
        assert [task.decode_values(row) for row in batch.labels.clamp(min=0).tolist()] == want
    batch = TokenTask("reverse", vocab=8, max_len=4).encode(values, lengths)
    assert batch.src.tolist() == [[6, 4, 7, 0], [5, 10, 0, 0]]
    assert batch.tgt_in.tolist() == [[BOS, 7, 4, 6, 0], [BOS, 10, 5, 0, 0]]
    assert batch.labels.tolist() == [[7, 4, 6, EOS, -1], [10, 5, EOS, -1, -1]]
    assert batch.src_pad.tolist() == [[False, False, False, True], [False, False, True, True]]


def test_held_out_split_is_disjoint_and_deterministic():
    task = TokenTask("copy", vocab=4, min_len=1, max_len=4)
    train = task.sample(3000, torch.Generator().manual_seed(0), held_out=False)
    test = task.sample(300, torch.Generator().manual_seed(1), held_out=True)
    key = lambda b: {tuple(r[r > 0].tolist()) for r in b.src}  # noqa: E731
    assert key(train).isdisjoint(key(test))
    assert len(key(test)) > 10
    again = task.sample(300, torch.Generator().manual_seed(1), held_out=True)
    assert torch.equal(again.src, test.src)


def test_bad_task_arguments():
    with pytest.raises(ValueError, match="unknown task"):
        TokenTask("add")
    with pytest.raises(ValueError, match="vocab"):
        TokenTask("copy", vocab=1)
    with pytest.raises(ValueError, match="max_len"):
        TokenTask("copy", min_len=5, max_len=3)
    with pytest.raises(ValueError, match="divisible"):
        Seq2SeqConfig(d_model=30, n_heads=4)


def test_diagonal_mass_and_capture():
    eye = torch.eye(4).expand(2, 3, 4, 4)  # (B, H, T, S)
    lengths = torch.tensor([4, 3])
    torch.testing.assert_close(diagonal_mass(eye, lengths), torch.ones(3))
    assert diagonal_mass(eye, lengths, anti=True).tolist() == pytest.approx([1 / 7] * 3)
    model = seq2seq_token_model()
    src, tgt = torch.randint(3, 9, (2, 5)), torch.randint(3, 9, (2, 4))
    out, weights = capture_cross_attention(model, lambda: model(src, tgt)[0])
    assert sorted(weights) == ["decoder.blocks.0.cross_attn", "decoder.blocks.1.cross_attn"]
    assert weights["decoder.blocks.0.cross_attn"].shape == (2, 4, 4, 5)
    torch.testing.assert_close(weights["decoder.blocks.1.cross_attn"].sum(-1), torch.ones(2, 4, 4))
    assert not any(p.active for p in named_points(model).values())
    torch.testing.assert_close(out, model(src, tgt)[0])  # the explicit path gives the fast path's output


def test_exact_match_counts_every_token_and_the_end():
    """A model that always answers greedily: scored by hand against its own greedy decoding."""
    model = seq2seq_token_model(seed=3, vocab=9)
    task = TokenTask("copy", vocab=6, min_len=1, max_len=4)
    batch = task.sample(20, torch.Generator().manual_seed(0), held_out=False)
    accuracy, pred = exact_match(model, batch)
    greedy = model.greedy_decode(batch.src, BOS, 5, eos=EOS, src_key_padding_mask=batch.src_pad)
    assert torch.equal(pred, greedy)
    right = [all(int(p) == int(l) for p, l in zip(row_p, row_l) if l != -1) for row_p, row_l in zip(pred, batch.labels)]
    assert accuracy == pytest.approx(sum(right) / 20)
    perfect = batch._replace(labels=torch.where(batch.labels == -1, -1, pred))  # labels equal to its answers
    assert exact_match(model, perfect)[0] == 1.0


def test_the_held_out_test_is_a_function_of_the_sequence_alone():
    task = TokenTask("sort", vocab=5, max_len=3)
    values = torch.randint(0, 5, (500, 3), generator=torch.Generator().manual_seed(1))
    lengths = torch.randint(1, 4, (500,), generator=torch.Generator().manual_seed(2))
    flags = task.is_held_out(values, lengths)
    past_the_end = values.masked_fill(torch.arange(3) >= lengths[:, None], 4)  # what lies past a length
    assert torch.equal(task.is_held_out(past_the_end, lengths), flags)
    assert 0 < flags.float().mean() < 0.3  # about one in held_out_every (10)
    held = task.sample(200, torch.Generator().manual_seed(2), held_out=True)
    train = task.sample(200, torch.Generator().manual_seed(2), held_out=False)
    assert task.is_held_out((held.src - 3).clamp(min=0), held.lengths).all()
    assert not task.is_held_out((train.src - 3).clamp(min=0), train.lengths).any()


def test_the_cross_attention_alignment_by_hand():
    model = seq2seq_token_model(seed=1)
    task = TokenTask("reverse", vocab=6, min_len=2, max_len=5)
    batch = task.sample(7, torch.Generator().manual_seed(4), held_out=False)
    found = cross_attention_alignment(model, batch, anti=True, n=5)
    assert sorted(found.weights) == ["decoder.blocks.0.cross_attn", "decoder.blocks.1.cross_attn"]
    w = found.weights["decoder.blocks.0.cross_attn"]  # (5, H, T, S): the first five examples
    assert w.shape == (5, 4, 6, 5)
    lengths = batch.lengths[:5].tolist()
    by_hand = sum(w[b, :, i, L - 1 - i] for b, L in enumerate(lengths) for i in range(L)) / sum(lengths)
    torch.testing.assert_close(found.mass["decoder.blocks.0.cross_attn"], by_hand)
    assert found.uniform == pytest.approx(sum(1 / L for L in lengths) / 5)
    assert found.longest == lengths.index(max(lengths))
    assert cross_attention_alignment(model, batch, anti=None).mass == {}  # sort: nothing to measure


def test_plus2_regressions_data_and_decoding_values():
    src, tgt, target = plus2_regression_data()
    assert src.shape == tgt.shape == target.shape == (1, 5, 1)
    torch.testing.assert_close(target, src + 2)
    torch.testing.assert_close(tgt[:, 1:], target[:, :-1])  # shifted right, 0 first
    assert tgt[0, 0, 0] == 0
    task = TokenTask("plus2", vocab=8)
    assert (task.src_vocab_size, task.tgt_vocab_size) == (11, 13)  # plus2 answers reach vocab + 1
    assert task.decode_values([5, 3, EOS, 7]) == [2, 0] and task.decode_values([BOS, 5]) == []
