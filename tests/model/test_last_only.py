"""`last_only`: the last position's output alone (its query over every key, the feed-forward layer and
the logits at that position) equals the last row of the full forward pass, and so do its gradients."""

from __future__ import annotations

import pytest
import torch

from attnlab.config import GPTConfig
from attnlab.look.hooks import record
from attnlab.model.attention import MultiHeadAttention
from attnlab.model.components import make_block
from attnlab.model.gpt import GPT

SWITCHES = [dict(), dict(norm="post"), dict(norm="none", init="lecun", tie_weights=False),
            dict(n_layers=1, activation="relu", ffn=False), dict(residual=False, attn_proj=False)]


@pytest.mark.parametrize("switches", SWITCHES)
def test_last_only_logits_and_gradients_equal_the_full_forwards_last_row(switches):
    torch.set_num_threads(1)
    cfg = GPTConfig(**{**dict(vocab_size=13, max_seq_len=8, d_model=16, n_heads=4, n_layers=2, d_ff=32), **switches})
    model = GPT(cfg).eval()
    idx = torch.randint(0, 13, (5, 6), generator=torch.Generator().manual_seed(0))
    full, _ = model(idx)  # (B, T, V)
    full_loss = full[:, -1].logsumexp(dim=-1).sum()
    full_grads = torch.autograd.grad(full_loss, list(model.parameters()), allow_unused=True)
    fast, _ = model(idx, last_only=True)  # (B, 1, V)
    fast_grads = torch.autograd.grad(fast[:, -1].logsumexp(dim=-1).sum(), list(model.parameters()), allow_unused=True)
    assert fast.shape == (5, 1, 13)
    torch.testing.assert_close(fast[:, 0], full[:, -1], atol=1e-5, rtol=0)
    for name_grad, (g_full, g_fast) in zip(model.named_parameters(), zip(full_grads, fast_grads)):
        if g_full is None:
            assert g_fast is None or g_fast.abs().max() == 0, name_grad[0]
        else:
            torch.testing.assert_close(g_fast, g_full, atol=1e-5, rtol=0, msg=name_grad[0])


def test_last_only_with_a_kv_cache_continues_the_cached_positions():
    model = GPT(GPTConfig(vocab_size=11, max_seq_len=8, d_model=16, n_heads=2, n_layers=2)).eval()
    idx = torch.randint(0, 11, (3, 7), generator=torch.Generator().manual_seed(1))
    full, _ = model(idx)
    caches = model.make_kv_caches(3)
    with torch.no_grad():
        model(idx[:, :4], kv_caches=caches, last_only=True)  # prefill: the caches hold keys of all 4
        step, _ = model(idx[:, 4:], kv_caches=caches, last_only=True)
    assert caches[1].length == 7
    torch.testing.assert_close(step[:, 0], full[:, -1], atol=1e-5, rtol=0)


def test_a_blocks_and_attentions_last_query_take_the_padding_and_attention_masks():
    torch.manual_seed(2)
    x = torch.randn(2, 5, 16)
    padding = torch.tensor([[False, False, True, False, False], [True, False, False, False, False]])
    block = make_block(16, 4, d_ff=32).eval()
    torch.testing.assert_close(block(x, key_padding_mask=padding, last_only=True),
                               block(x, key_padding_mask=padding)[:, -1:], atol=1e-6, rtol=0)
    attn = MultiHeadAttention(16, 4).eval()
    allowed = torch.rand(5, 5, generator=torch.Generator().manual_seed(3)) > 0.3
    allowed[:, 0] = True  # every query sees at least one key
    torch.testing.assert_close(attn(x, attn_mask=allowed, last_query=True),
                               attn(x, attn_mask=allowed)[:, -1:], atol=1e-6, rtol=0)


def test_last_only_runs_the_last_blocks_query_and_feed_forward_at_one_position():
    model = GPT(GPTConfig(vocab_size=11, max_seq_len=8, d_model=16, n_heads=2, n_layers=2, d_ff=32)).eval()
    idx = torch.randint(0, 11, (3, 6), generator=torch.Generator().manual_seed(4))
    names = ["blocks.0.ffwd.hidden", "blocks.1.attn.q", "blocks.1.attn.k", "blocks.1.ffwd.hidden", "blocks.1.out"]
    with record(model, *names) as rec:
        model(idx, last_only=True)
    assert [tuple(rec[n].shape) for n in names] == [(3, 6, 32), (3, 2, 1, 8), (3, 2, 6, 8), (3, 1, 32), (3, 1, 16)]
