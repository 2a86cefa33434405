"""attnlab.model.masks: the causal triangle and the one mask MultiHeadAttention applies, built
here again from its parts, cell by cell."""

import pytest
import torch

from attnlab.model.masks import causal_mask, combined_mask

CPU = torch.device("cpu")


def test_causal_mask_offsets():
    assert causal_mask(3).int().tolist() == [[1, 0, 0], [1, 1, 0], [1, 1, 1]]
    assert causal_mask(1, 4).int().tolist() == [[1, 1, 1, 1]]


def test_causal_mask_is_key_index_at_most_query_index_plus_the_offset():
    for T, S in [(1, 1), (4, 4), (3, 7), (5, 2)]:
        expected = [[s <= t + (S - T) for s in range(S)] for t in range(T)]
        assert causal_mask(T, S).tolist() == expected, (T, S)


@pytest.mark.parametrize("T, S, explicit", [(4, 4, False), (1, 6, True), (1, 6, False)])
def test_no_mask_when_the_fast_path_or_one_query_needs_none(T, S, explicit):
    assert combined_mask(2, T, S, True, None, None, explicit, CPU) is None
    assert combined_mask(2, T, S, False, None, None, True, CPU) is None  # not causal, nothing given


def test_the_explicit_path_gets_the_triangle():
    assert combined_mask(2, 3, 3, True, None, None, True, CPU).tolist() == causal_mask(3).tolist()
    assert combined_mask(2, 2, 5, True, None, None, False, CPU).tolist() == causal_mask(2, 5).tolist()


def test_causal_padding_and_a_given_mask_are_and_ed_cell_by_cell():
    B, T, S = 2, 3, 4
    pad = torch.tensor([[False, False, False, True], [False, True, False, False]])  # True: a padding key
    given = torch.tensor([[True, False, True, True]] * T)  # (T, S): nobody sees key 1
    mask = combined_mask(B, T, S, True, pad, given, False, CPU)
    assert mask.shape == (B, 1, T, S) and mask.dtype == torch.bool
    for b in range(B):
        for t in range(T):
            for s in range(S):
                allowed = s <= t + (S - T) and not pad[b, s] and bool(given[t, s])
                assert bool(mask[b, 0, t, s]) == allowed, (b, t, s)
    not_causal = combined_mask(B, T, S, False, pad, None, False, CPU)
    assert not_causal.tolist() == (~pad).view(B, 1, 1, S).expand(B, 1, T, S).tolist()


def test_an_additive_float_mask_becomes_boolean_and_other_offsets_are_refused():
    additive = torch.tensor([[0.0, float("-inf")], [0.0, 0.0]])
    mask = combined_mask(1, 2, 2, False, None, additive, False, CPU)
    assert mask.tolist() == [[[[True, False], [True, True]]]]
    with pytest.raises(ValueError, match="only 0 and -inf"):
        combined_mask(1, 2, 2, False, None, torch.tensor([[0.0, -1.0], [0.0, 0.0]]), False, CPU)


def test_a_padding_mask_of_the_wrong_shape_is_refused_with_both_shapes():
    with pytest.raises(ValueError, match=r"key_padding_mask must be \(B, S\) = \(2, 4\), got \(2, 3\)"):
        combined_mask(2, 4, 4, True, torch.zeros(2, 3, dtype=torch.bool), None, False, CPU)
