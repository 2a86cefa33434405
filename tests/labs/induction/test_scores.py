"""attnlab.labs.induction.scores: the previous-token, induction and duplicate scores of hand-built
attention patterns, the repeated sequences, and detect_heads on a GPT."""

from fractions import Fraction

import pytest
import torch

from attnlab.config import GPTConfig
from attnlab.labs.induction.scores import HeadScores, detect_heads, head_scores, repeated_tokens, score_maps
from attnlab.model.gpt import GPT


def one_hot_rows(targets: list[int], T: int) -> torch.Tensor:
    """(T, T) weights: row t puts all its weight on key targets[t]."""
    w = torch.zeros(T, T)
    w[torch.arange(T), torch.tensor(targets)] = 1.0
    return w


def test_a_head_that_looks_one_token_back_scores_one_previous():
    n, T = 5, 10
    w = one_hot_rows([0] + list(range(T - 1)), T)  # row 0 has nothing before it: itself
    s = head_scores(w[None, None], n)
    assert s["previous"].item() == 1.0
    assert s["induction"].item() == 0.0 and s["duplicate"].item() == 0.0


def test_a_perfect_induction_pattern_scores_one_induction():
    n, T = 5, 10
    targets = list(range(n)) + [t - n + 1 for t in range(n, T)]  # first copy: itself; second: t - n + 1
    s = head_scores(one_hot_rows(targets, T)[None, None], n)
    assert s["induction"].item() == 1.0
    assert s["duplicate"].item() == 0.0
    assert s["previous"].item() == 0.0  # t - n + 1 is never t - 1 when n > 2


def test_a_duplicate_pattern_scores_one_duplicate():
    n, T = 4, 8
    targets = list(range(n)) + [t - n for t in range(n, T)]
    s = head_scores(one_hot_rows(targets, T)[None, None], n)
    assert s["duplicate"].item() == 1.0 and s["induction"].item() == 0.0


@pytest.mark.parametrize("n, start", [(3, 0), (4, 1), (6, 0)])
def test_uniform_causal_attention_gives_the_hand_computed_means(n, start):
    T = start + 2 * n
    w = torch.tril(torch.ones(T, T)) / torch.arange(1, T + 1).unsqueeze(1)  # row t: 1/(t+1) each
    s = head_scores(w[None, None], n, start=start)
    previous = sum(Fraction(1, t + 1) for t in range(1, T)) / (T - 1)
    second = range(start + n, start + 2 * n)
    induction = sum(Fraction(1, t + 1) for t in second) / n  # the same 1/(t+1) lands on t - n + 1
    assert s["previous"].item() == pytest.approx(float(previous), abs=1e-6)
    assert s["induction"].item() == pytest.approx(float(induction), abs=1e-6)
    assert s["duplicate"].item() == pytest.approx(float(induction), abs=1e-6)


def test_scores_average_over_the_batch_and_keep_heads_apart():
    n, T = 3, 6
    prev = one_hot_rows([0] + list(range(T - 1)), T)
    ind = one_hot_rows(list(range(n)) + [t - n + 1 for t in range(n, T)], T)
    w = torch.stack([torch.stack([prev, ind]), torch.stack([prev, prev])])  # (B=2, H=2, T, T)
    s = head_scores(w, n)
    assert s["previous"].shape == (2,)
    assert s["previous"][0].item() == 1.0
    assert s["induction"][1].item() == pytest.approx(0.5)  # one row of the batch is a perfect induction head


def test_queries_after_the_second_copy_are_ignored():
    n = 3
    w = one_hot_rows([0] + list(range(2 * n)), 2 * n + 1)  # one extra position at the end
    w[-1] = 0
    w[-1, 0] = 1.0  # that query does something else entirely
    assert head_scores(w[None, None], n)["previous"].item() == 1.0


def test_bad_shapes_are_errors_that_say_so():
    with pytest.raises(ValueError, match=r"\(B, H, T, S\)"):
        head_scores(torch.zeros(4, 4), 2)
    with pytest.raises(ValueError, match="2 x 3 tokens"):
        head_scores(torch.zeros(1, 1, 5, 5), 3)


def test_repeated_tokens_are_distinct_then_repeated_with_an_optional_bos():
    ids = repeated_tokens(6, 3, 20, torch.Generator().manual_seed(1), bos=99)  # (B, 1 + 2n)
    assert ids.shape == (3, 13)
    assert torch.all(ids[:, 0] == 99)
    assert torch.equal(ids[:, 1:7], ids[:, 7:])
    assert all(len(set(row)) == 6 for row in ids[:, 1:7].tolist())
    with pytest.raises(ValueError, match="vocabulary of at least"):
        repeated_tokens(6, 1, 5, torch.Generator())


def test_detect_heads_on_a_gpt_gives_one_score_per_layer_and_head():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=30, max_seq_len=16, d_model=16, n_heads=2, n_layers=3))
    scores = detect_heads(model, n=6, batch=4)
    assert isinstance(scores, HeadScores)
    assert scores.induction.shape == (3, 2)
    rows = scores.rows()
    assert [(r["layer"], r["head"]) for r in rows] == [(l, h) for l in range(3) for h in range(2)]
    assert all(0.0 <= r[name] <= 1.0 for r in rows for name in ("previous", "induction", "duplicate"))
    again = detect_heads(model, n=6, batch=4)  # the same seed: the same sequences
    assert torch.equal(again.induction, scores.induction)
    with_bos = detect_heads(model, n=6, batch=4, bos=0)
    assert not torch.equal(with_bos.previous, scores.previous)


def test_score_maps_stacks_layers_and_best_finds_the_top_head():
    n, T = 3, 6
    prev = one_hot_rows([0] + list(range(T - 1)), T)
    ind = one_hot_rows(list(range(n)) + [t - n + 1 for t in range(n, T)], T)
    maps = {"blocks.0.attn": torch.stack([ind, prev])[None], "blocks.1.attn": torch.stack([prev, ind])[None]}
    scores = score_maps(maps, n)
    assert scores.best("induction") == (0, 0, 1.0)
    assert scores.best("induction", layer=1) == (1, 1, 1.0)
    assert scores.best("previous", layer=0)[:2] == (0, 1)
