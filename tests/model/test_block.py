"""A Block is made of the parts it is handed: any norm and any activation, computed as the block's
formula says (a hand computation with torch.nn.functional)."""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.testing import assert_close

from attnlab.model.attention import MultiHeadAttention, attention, causal_mask
from attnlab.model.block import Block
from attnlab.model.feedforward import FeedForward


def by_hand_attention(attn: MultiHeadAttention, h: torch.Tensor) -> torch.Tensor:
    """softmax(q·kᵀ/√D + causal mask)·v per head, heads concatenated, W_O: (B, T, C) -> (B, T, C)."""
    B, T, C = h.shape
    H, D = attn.n_heads, attn.d_head
    q, k, v = F.linear(h, attn.qkv.weight, attn.qkv.bias).split(C, dim=-1)
    heads = [attention(q[..., i * D:(i + 1) * D], k[..., i * D:(i + 1) * D], v[..., i * D:(i + 1) * D],
                       mask=causal_mask(T))[0] for i in range(H)]
    return F.linear(torch.cat(heads, dim=-1), attn.proj.weight, attn.proj.bias)


@pytest.mark.parametrize("pre_norm", [True, False])
def test_a_block_of_rmsnorm_and_silu_follows_its_formula(pre_norm):
    torch.manual_seed(0)
    C = 8
    attn = MultiHeadAttention(C, 2, causal=True)
    ffwd = FeedForward(C, 16, act=nn.SiLU())
    ln1, ln2 = nn.RMSNorm(C, eps=1e-6), nn.RMSNorm(C, eps=1e-6)
    with torch.no_grad():
        ln1.weight.uniform_(0.5, 1.5)
        ln2.weight.uniform_(0.5, 1.5)
    block = Block(attn, ffwd, ln1, ln2, pre_norm=pre_norm).eval()
    x = torch.randn(2, 5, C)

    def rms(x, ln):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * ln.weight

    def mlp(h):
        return F.linear(F.silu(F.linear(h, ffwd.up.weight, ffwd.up.bias)), ffwd.down.weight, ffwd.down.bias)

    if pre_norm:
        mid = x + by_hand_attention(attn, rms(x, ln1))
        expected = mid + mlp(rms(mid, ln2))
    else:
        mid = rms(x + by_hand_attention(attn, x), ln1)
        expected = rms(mid + mlp(mid), ln2)
    assert_close(block(x), expected, atol=1e-5, rtol=1e-5)


def test_a_feed_forward_layer_defaults_to_seed_001s_relu():
    ffwd = FeedForward(4, 8)
    x = torch.randn(3, 4)
    assert_close(ffwd(x), F.linear(F.relu(F.linear(x, ffwd.up.weight, ffwd.up.bias)), ffwd.down.weight,
                                   ffwd.down.bias))
