"""attnlab.why.logit_diff: LD read off the logits by hand, its normalisation, the position rules
and the pair's defaults (the clean run's top token against the corrupt run's)."""

import pytest
import torch

from attnlab.config import GPTConfig
from attnlab.model.gpt import GPT
from attnlab.why.logit_diff import check_position, logit_diff, make_pair, normalised


def test_ld_is_the_answers_logit_minus_the_wrong_ones_at_the_position():
    logits = torch.randn(3, 5, 7)
    got = logit_diff(logits, 2, answer=4, wrong=1)
    assert got.shape == (3,)
    torch.testing.assert_close(got, torch.tensor([logits[b, 2, 4] - logits[b, 2, 1] for b in range(3)]))
    assert logit_diff(logits.bfloat16(), -1, 0, 6).dtype == torch.float32  # read in float


def test_normalised_is_one_on_the_clean_ld_and_zero_on_the_corrupt_one():
    ld = torch.tensor([3.0, -1.0, 1.0, 5.0])
    assert normalised(ld, ld_clean=3.0, ld_corrupt=-1.0).tolist() == [1.0, 0.0, 0.5, 1.5]


@pytest.mark.parametrize("position, T, expected", [(None, 6, 5), (0, 6, 0), (-1, 6, 5), (-6, 6, 0), (3, 4, 3)])
def test_a_position_counts_from_the_end_when_negative(position, T, expected):
    assert check_position(position, T) == expected


@pytest.mark.parametrize("position", [6, -7])
def test_a_position_outside_the_text_is_refused_with_the_range(position):
    with pytest.raises(ValueError, match=rf"--position {position} is out of range: the texts have 6 tokens \(0..5"):
        check_position(position, 6)


def model_of(seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=12, max_seq_len=8, d_model=16, n_heads=2, n_layers=1)).eval()


def test_the_pair_defaults_to_the_last_position_and_each_runs_top_token():
    model = model_of()
    clean, corrupt = torch.tensor([[1, 2, 3, 4]]), torch.tensor([[1, 2, 3, 9]])
    with torch.no_grad():
        top_clean = int(model(clean)[0][0, -1].argmax())
        top_corrupt = int(model(corrupt)[0][0, -1].argmax())
    assert top_clean != top_corrupt  # the defaults are then a valid pair
    pair = make_pair(model, clean, corrupt)
    assert (pair.position, pair.answer, pair.wrong) == (3, top_clean, top_corrupt)
    with torch.no_grad():
        logits = model(clean)[0]
    assert pair.ld(logits).item() == pytest.approx((logits[0, 3, top_clean] - logits[0, 3, top_corrupt]).item())
    given = make_pair(model, clean, corrupt, position=-2, answer=5, wrong=7)
    assert (given.position, given.answer, given.wrong) == (2, 5, 7)


def test_a_pair_of_two_lengths_or_one_token_is_refused():
    model = model_of()
    with pytest.raises(ValueError, match="clean text is 3 tokens long and the corrupt text 4"):
        make_pair(model, torch.tensor([[1, 2, 3]]), torch.tensor([[1, 2, 3, 4]]))
    with pytest.raises(ValueError, match=r"the same token \(id 5\)"):
        make_pair(model, torch.tensor([[1, 2]]), torch.tensor([[3, 4]]), answer=5, wrong=5)
