import pytest
import torch
import torch.nn.functional as F

from attnlab.look.explain import SEED_000, SEED_004, explain_attention, explain_weighted_sum
from attnlab.viz.explain_text import format_explanation


def test_seed_004_by_hand():
    ex = explain_attention(SEED_004["q"], SEED_004["k"], SEED_004["v"], scale=1.0, tokens=SEED_004["tokens"])
    assert ex.names() == ["q", "k", "v", "scores", "scaled", "masked", "weights", "out"]
    assert ex["scores"][0].tolist() == [1.0, 1.0, 0.0]  # 나는's Q·K
    torch.testing.assert_close(ex["weights"][0], torch.tensor([0.422, 0.422, 0.156]), atol=1e-3, rtol=0)
    torch.testing.assert_close(ex["out"][0], torch.tensor([0.211, 0.211, 0.078]), atol=5e-4, rtol=0)
    text = format_explanation(ex, token=0)
    assert "0.422" in text and "0.211, 0.211, 0.078" in text and "나는" in text


def test_intermediates_are_consistent_with_a_mask_and_default_scale():
    torch.manual_seed(0)
    q, k, v = torch.randn(4, 8), torch.randn(4, 8), torch.randn(4, 5)
    mask = torch.ones(4, 4, dtype=torch.bool).tril()
    ex = explain_attention(q, k, v, mask=mask)
    torch.testing.assert_close(ex["scaled"], ex["scores"] / 8 ** 0.5)
    torch.testing.assert_close(ex["weights"], F.softmax(ex["masked"], dim=-1))
    assert torch.isneginf(ex["masked"][0, 1:]).all()
    expected = F.scaled_dot_product_attention(q[None], k[None], v[None], attn_mask=mask)[0]
    torch.testing.assert_close(ex["out"], expected)


def test_seed_000_weighted_sum():
    ex = explain_weighted_sum(SEED_000["weights"], SEED_000["values"])
    assert ex["out"].tolist() == [[81.5, 81.5]]
    assert "81.500" in format_explanation(ex)
    with pytest.raises(ValueError, match="do not fit"):
        explain_weighted_sum(torch.ones(1, 2), torch.ones(3, 2))


