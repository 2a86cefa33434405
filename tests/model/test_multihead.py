"""Fused multi-head attention against torch.nn.MultiheadAttention and the heads-list form."""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.testing import assert_close

from attnlab import ConcatHeadsAttention, GPT, GPTConfig, MultiHeadAttention, attention, causal_mask


def torch_mha_like(ours: MultiHeadAttention) -> nn.MultiheadAttention:
    ref = nn.MultiheadAttention(ours.d_model, ours.n_heads, bias=True, batch_first=True)
    with torch.no_grad():
        ref.in_proj_weight.copy_(ours.qkv.weight)
        ref.in_proj_bias.copy_(ours.qkv.bias)
        ref.out_proj.weight.copy_(ours.proj.weight)
        ref.out_proj.bias.copy_(ours.proj.bias)
    return ref.eval()


def padding(B, S, g):
    """A (B, S) key padding mask, True = padding, never a whole row."""
    lengths = torch.randint(1, S + 1, (B,), generator=g)
    return torch.arange(S)[None, :] >= lengths[:, None]


@pytest.mark.parametrize("d_model,n_heads,T,S", [(64, 4, 3, 3), (48, 3, 7, 11), (30, 5, 9, 4)])
@pytest.mark.parametrize("use_sdpa", [True, False])
def test_matches_torch_multihead_attention(d_model, n_heads, T, S, use_sdpa):
    torch.manual_seed(d_model + T)
    g = torch.Generator().manual_seed(T)
    ours = MultiHeadAttention(d_model, n_heads).eval()
    ours.use_sdpa = use_sdpa
    with torch.no_grad():
        ours.qkv.bias.normal_()  # non-zero biases, so they are checked too
        ours.proj.bias.normal_()
    ref = torch_mha_like(ours)
    B = 3
    x, memory = torch.randn(B, T, d_model, generator=g), torch.randn(B, S, d_model, generator=g)

    # self-attention, unmasked
    assert_close(ours(x), ref(x, x, x, need_weights=False)[0])
    # cross-attention with key padding
    pad = padding(B, S, g)
    assert_close(ours(x, memory=memory, key_padding_mask=pad),
                 ref(x, memory, memory, key_padding_mask=pad, need_weights=False)[0])
    # causal self-attention with key padding (torch's bool attn_mask means "blocked")
    ours.causal = True
    pad = padding(B, T, g)
    pad[:, 0] = False  # with a causal mask, query 0 sees only key 0
    expected = ref(x, x, x, attn_mask=~causal_mask(T), key_padding_mask=pad, need_weights=False)[0]
    assert_close(ours(x, key_padding_mask=pad), expected)
    assert_close(ours(x), ref(x, x, x, attn_mask=~causal_mask(T), need_weights=False)[0])


def test_weights_match_torch_and_rows_sum_to_one():
    torch.manual_seed(1)
    ours = MultiHeadAttention(32, 4, causal=True).eval()
    ref = torch_mha_like(ours)
    x = torch.randn(2, 6, 32)
    captured = []
    ours.points.weights.fns.append(lambda w: captured.append(w) or w)
    out = ours(x)
    ref_out, ref_w = ref(x, x, x, attn_mask=~causal_mask(6), need_weights=True, average_attn_weights=False)
    assert_close(out, ref_out)
    (w,) = captured
    assert w.shape == (2, 4, 6, 6)  # (B, H, T, S)
    assert_close(w, ref_w)
    assert_close(w.sum(-1), torch.ones(2, 4, 6))
    assert (w.triu(diagonal=1) == 0).all()


def test_fast_and_explicit_paths_agree():
    torch.manual_seed(2)
    mha = MultiHeadAttention(24, 3, causal=True).eval()
    x = torch.randn(4, 10, 24)
    pad = torch.zeros(4, 10, dtype=torch.bool)
    pad[1, 7:] = True
    fast = mha(x, key_padding_mask=pad), mha(x)
    mha.use_sdpa = False
    explicit = mha(x, key_padding_mask=pad), mha(x)
    assert_close(fast[0], explicit[0])
    assert_close(fast[1], explicit[1])


@pytest.mark.parametrize("causal", [True, False])
def test_fused_equals_heads_list_with_copied_slices(causal):
    torch.manual_seed(3)
    d_model, n_heads = 64, 4
    heads_form = ConcatHeadsAttention(d_model, n_heads, causal=causal, bias=False)
    fused = MultiHeadAttention(d_model, n_heads, causal=causal, qkv_bias=False)
    D = d_model // n_heads
    with torch.no_grad():
        w_q, w_k, w_v = fused.qkv.weight.split(d_model, dim=0)  # each (C, C): rows = output features
        for h, head in enumerate(heads_form.heads):
            rows = slice(h * D, (h + 1) * D)  # head h owns output features h*D .. (h+1)*D
            head.query.weight.copy_(w_q[rows])
            head.key.weight.copy_(w_k[rows])
            head.value.weight.copy_(w_v[rows])
        heads_form.proj.load_state_dict(fused.proj.state_dict())
    x = torch.randn(2, 5, d_model)
    assert_close(fused(x), heads_form(x))


def test_bad_input():
    with pytest.raises(ValueError, match=r"d_model \(10\) must be divisible by n_heads \(3\)"):
        MultiHeadAttention(10, 3)
    mha = MultiHeadAttention(8, 2)
    with pytest.raises(ValueError, match="input width 6 does not match d_model 8"):
        mha(torch.randn(1, 2, 6))
    with pytest.raises(ValueError, match="key_padding_mask"):
        mha(torch.randn(1, 2, 8), key_padding_mask=torch.zeros(1, 3, dtype=torch.bool))


def test_a_bf16_gpt_under_cpu_autocast_matches_fp32():
    torch.manual_seed(4)
    model = GPT(GPTConfig(vocab_size=11, max_seq_len=16, d_model=32, n_heads=4, n_layers=2))
    idx = torch.randint(0, 11, (3, 16))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits, loss = model(idx, idx)
    assert_close(logits.float(), model(idx)[0], rtol=0.05, atol=0.05)
    assert abs(loss.item() - model(idx, idx)[1].item()) < 0.02
