"""The attention formula, against the seeds' hand calculations and PyTorch's SDPA."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from attnlab import ConcatHeadsAttention, Head, attention, causal_mask


def test_seed_000_weighted_sum():
    # weights of token 1 over the values of three tokens: 0.1*[10,10] + 0.8*[100,100] + 0.1*[5,5]
    weights = torch.tensor([[0.1, 0.8, 0.1]])
    values = torch.tensor([[10.0, 10.0], [100.0, 100.0], [5.0, 5.0]])
    # attention() with logits log(w) reproduces the given weights exactly
    out, w = attention(torch.log(weights), torch.eye(3), values, scale=1.0)
    assert_close(w, weights)
    assert_close(out, torch.tensor([[81.5, 81.5]]))


def test_seed_004_i_ate_an_apple():
    # 나는 / 사과를 / 먹었다, unscaled (scale = 1) as the seed computes by hand
    q = torch.tensor([[1.0, 0, 0], [0, 1, 0], [0, 0, 1]])
    k = torch.tensor([[1.0, 1, 0], [1, 0, 1], [0, 1, 1]])
    v = torch.tensor([[0.5, 0, 0], [0, 0.5, 0], [0, 0, 0.5]])
    out, w = attention(q, k, v, scale=1.0)
    e = math.e
    assert_close(w[0], torch.tensor([e / (2 * e + 1), e / (2 * e + 1), 1 / (2 * e + 1)]))
    assert [round(x, 4) for x in w[0].tolist()] == [0.4223, 0.4223, 0.1554]
    assert [round(x, 4) for x in out[0].tolist()] == [0.2112, 0.2112, 0.0777]
    assert [round(x, 3) for x in out[0].tolist()] == [0.211, 0.211, 0.078]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(1, 1, 3, 4, 4), (2, 3, 5, 7, 8), (4, 2, 16, 9, 5)])
def test_matches_sdpa(dtype, shape):
    B, H, T, S, D = shape
    g = torch.Generator().manual_seed(B * 100 + T)
    q = torch.randn(B, H, T, D, generator=g, dtype=dtype)
    k = torch.randn(B, H, S, D, generator=g, dtype=dtype)
    v = torch.randn(B, H, S, D, generator=g, dtype=dtype)
    out, w = attention(q, k, v)
    assert_close(out, F.scaled_dot_product_attention(q, k, v))
    assert_close(w.sum(-1), torch.ones(B, H, T, dtype=dtype))
    # boolean mask, with at least one key per row so SDPA is defined
    mask = torch.rand(B, 1, T, S, generator=g) > 0.5
    mask[..., 0] = True
    out, w = attention(q, k, v, mask=mask)
    assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask))
    assert (w[~mask.expand_as(w)] == 0).all()
    # additive mask, and a custom scale
    additive = torch.zeros(T, S, dtype=dtype).masked_fill(~causal_mask(T, S), float("-inf"))
    out, _ = attention(q, k, v, mask=additive, scale=0.3)
    assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=additive, scale=0.3))
    if T == S:
        out, _ = attention(q, k, v, mask=causal_mask(T))
        assert_close(out, F.scaled_dot_product_attention(q, k, v, is_causal=True))


def test_fully_masked_row_is_zero_not_nan():
    q, k, v = torch.randn(2, 3, 4), torch.randn(2, 5, 4), torch.randn(2, 5, 6)
    mask = torch.ones(2, 3, 5, dtype=torch.bool)
    mask[1, 2] = False  # query 2 of item 1 may see nothing
    out, w = attention(q, k, v, mask=mask)
    assert not out.isnan().any() and not w.isnan().any()
    assert (w[1, 2] == 0).all() and (out[1, 2] == 0).all()
    assert_close(w[0].sum(-1), torch.ones(3))
    additive = torch.zeros(3, 5).masked_fill(~mask[1], float("-inf"))
    out2, w2 = attention(q[1], k[1], v[1], mask=additive)
    assert_close(out2, out[1])


def test_shape_errors():
    with pytest.raises(ValueError, match="same last dimension"):
        attention(torch.randn(3, 4), torch.randn(3, 5), torch.randn(3, 5))
    with pytest.raises(ValueError, match="same length"):
        attention(torch.randn(3, 4), torch.randn(3, 4), torch.randn(2, 4))
    with pytest.raises(ValueError, match=r"d_model \(64\) must be divisible by n_heads \(5\)"):
        ConcatHeadsAttention(64, 5)


def test_head_is_causal_and_matches_formula():
    torch.manual_seed(0)
    head = Head(d_model=64, d_head=16)
    x = torch.randn(1, 3, 64)
    out = head(x)
    assert out.shape == (1, 3, 16)  # seed 001: one head's result is [1, 3, 16]
    expected = F.scaled_dot_product_attention(head.query(x), head.key(x), head.value(x), is_causal=True)
    assert_close(out, expected)
    x2 = x.clone()
    x2[:, 2] += 1.0  # the future must not change the past
    assert_close(head(x2)[:, :2], out[:, :2])


def test_seed_001_shapes():
    torch.manual_seed(0)
    mha = ConcatHeadsAttention(d_model=64, n_heads=4)
    assert all(h.key.weight.shape == (16, 64) and h.key.bias is None for h in mha.heads)
    x = torch.randn(1, 3, 64)
    per_head = [h(x) for h in mha.heads]
    assert [tuple(o.shape) for o in per_head] == [(1, 3, 16)] * 4
    assert torch.cat(per_head, dim=-1).shape == (1, 3, 64)
    assert mha(x).shape == (1, 3, 64)
