"""attnlab.look.norms: norm-based contributions ‖α_ij f(x_j)‖ (Kobayashi et al. 2020) against seed
000's numbers and against the heads' output split by token, W_O included."""

import pytest
import torch

from attnlab.look.explain import SEED_000, explain_weighted_sum
from attnlab.viz.explain_text import contribution_sentence
from attnlab.look.norms import contribution_norms, shares, value_vectors_after_wo


def test_seed_000_contributions():
    norms = contribution_norms(SEED_000["weights"], SEED_000["values"])
    torch.testing.assert_close(norms, torch.tensor([[1.414, 113.137, 0.707]]), atol=5e-4, rtol=0)
    assert round(shares(norms)[0, 1].item(), 3) == 0.982
    tokens = ["느금마", "만수무강", "ㅇㅈㄹ"]
    ex = explain_weighted_sum(SEED_000["weights"], SEED_000["values"], tokens=tokens)
    torch.testing.assert_close(ex["contribution"], norms)
    sentence = contribution_sentence(ex)
    assert "98.2% of the new 느금마" in sentence and "80.0%" in sentence and "from 만수무강" in sentence


def test_norms_with_wo_equal_the_heads_output_split_by_token():
    """Σ_j α_ij f(x_j) over tokens, summed over heads, is the attention output before W_O's bias."""
    torch.manual_seed(1)
    H, T, D, C = 3, 4, 5, 15
    weights = torch.softmax(torch.randn(H, T, T), dim=-1)
    values = torch.randn(H, T, D)
    w_o = torch.randn(C, H * D)
    f = value_vectors_after_wo(values, w_o)  # (H, S, C)
    concat = (weights @ values).transpose(0, 1).reshape(T, H * D)  # heads side by side
    torch.testing.assert_close(torch.einsum("hts,hsc->tc", weights, f), concat @ w_o.T, atol=1e-5, rtol=1e-5)
    norms = contribution_norms(weights, values, w_o)
    for h in range(H):
        per_token = (weights[h].unsqueeze(-1) * f[h].unsqueeze(0)).norm(dim=-1)  # (T, S)
        torch.testing.assert_close(norms[h], per_token, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(shares(norms).sum(-1), torch.ones(H, T))
    with pytest.raises(ValueError, match="W_O takes"):
        contribution_norms(weights, values, torch.randn(C, H * D + 1))
