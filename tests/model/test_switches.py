"""The ablation switches (bigram, ffn, residual, norm, attn_proj), each checked by hand."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
from torch.testing import assert_close

from attnlab import GPT, Block, GPTConfig
from attnlab.model.components import make_block
from attnlab.config import TrainConfig
from attnlab.look.explain import explain_model

# Three tokens of width 2, small enough to follow by hand.
X = torch.tensor([[[1.0, -1.0], [0.0, 2.0], [3.0, 1.0]]])  # (B=1, T=3, C=2)
# With W_Q = W_K = 0 every score is 0, so causal attention averages the values seen so far;
# with W_V = I those values are the inputs themselves: the running mean of X.
RUNNING_MEAN = torch.tensor([[[1.0, -1.0], [0.5, 0.5], [4 / 3, 2 / 3]]])


def hand_block(**switches) -> Block:
    """A one-head block of width 2: W_Q = W_K = 0, W_V = I, no W_O, no biases; an FFN (if any)
    of width 2 with up = down = I, so ffwd(h) = relu(h)."""
    block = make_block(2, 1, d_ff=2, activation="relu", bias=False, attn_proj=False, **switches).eval()
    with torch.no_grad():
        block.attn.qkv.weight.copy_(torch.cat([torch.zeros(4, 2), torch.eye(2)]))  # [W_Q; W_K; W_V]
        if block.ffwd is not None:
            block.ffwd.up.weight.copy_(torch.eye(2))
            block.ffwd.down.weight.copy_(torch.eye(2))
    return block


def test_the_hand_block_attends_to_the_running_mean():
    block = hand_block(norm="none", residual=False, ffn=False)
    assert_close(block.attn(X), RUNNING_MEAN)


def test_residual_false_drops_the_x_plus():
    # attention only: out = attn(x) without the residual, x + attn(x) with it
    assert_close(hand_block(norm="none", ffn=False, residual=False)(X), RUNNING_MEAN)
    assert_close(hand_block(norm="none", ffn=False, residual=True)(X), X + RUNNING_MEAN)
    # with the FFN: h = attn(x); out = relu(h)  vs  h = x + attn(x); out = h + relu(h)
    no_skip = torch.tensor([[[1.0, 0.0], [0.5, 0.5], [4 / 3, 2 / 3]]])
    assert_close(hand_block(norm="none", residual=False)(X), no_skip)
    h = torch.tensor([[[2.0, -2.0], [0.5, 2.5], [13 / 3, 5 / 3]]])
    assert_close(hand_block(norm="none", residual=True)(X), h + h.clamp(min=0))


def test_norm_none_has_no_layernorm_and_changes_the_forward():
    block = hand_block(norm="none")
    assert not any(isinstance(m, nn.LayerNorm) for m in block.modules())
    assert all(isinstance(m, nn.Identity) for m in (block.ln1, block.ln2))
    h = X + RUNNING_MEAN
    assert_close(block(X), h + h.clamp(min=0))
    # pre-LN normalises each token before attention: LayerNorm([1, -1]) = [1, -1] (mean 0,
    # variance 1), LayerNorm([0, 2]) = [-1, 1], LayerNorm([3, 1]) = [1, -1] (eps aside)
    pre = hand_block(norm="pre", ffn=False)
    normed = torch.tensor([[[1.0, -1.0], [-1.0, 1.0], [1.0, -1.0]]])
    mean = normed.cumsum(1) / torch.arange(1, 4).view(1, 3, 1)
    assert_close(pre(X), X + mean, atol=1e-4, rtol=0)
    model = GPT(GPTConfig(vocab_size=5, max_seq_len=4, d_model=8, n_heads=2, n_layers=2, norm="none"))
    assert not any(isinstance(m, nn.LayerNorm) for m in model.modules())  # ln_f too


def test_post_norm_without_residual_normalises_the_sublayer_alone():
    block = hand_block(norm="post", ffn=False, residual=False)
    assert_close(block(X), block.ln1(RUNNING_MEAN))


def test_attention_only_blocks_have_no_ffn_parameters():
    C, V, P, L = 16, 11, 8, 2
    model = GPT(GPTConfig(vocab_size=V, max_seq_len=P, d_model=C, n_heads=4, n_layers=L, ffn=False))
    names = [name for name, _ in model.named_parameters()]
    assert not [n for n in names if ".ffwd." in n or ".ln2." in n]
    per_block = 2 * C + (3 * C * C + 3 * C) + (C * C + C)  # ln1, qkv, W_O
    assert model.num_parameters() == V * C + P * C + L * per_block + 2 * C  # tied lm_head
    assert all(block.ffwd is None for block in model.blocks)


def test_attn_proj_false_concatenates_the_heads():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=7, max_seq_len=6, d_model=8, n_heads=2, n_layers=1, attn_proj=False))
    attn = model.blocks[0].attn
    assert isinstance(attn.proj, nn.Identity)
    assert not [n for n, _ in model.named_parameters() if "attn.proj" in n]
    x = torch.randn(1, 5, 8)
    q, k, v = attn.project_qkv(x)  # (B, H, T, D)
    heads = torch.softmax((q @ k.transpose(-2, -1) / 2.0).masked_fill(~torch.ones(5, 5).tril().bool(), -torch.inf),
                          dim=-1) @ v  # (B, H, T, D), scale 1/sqrt(4)
    assert_close(attn(x), heads.transpose(1, 2).reshape(1, 5, 8))


def test_bigram_logits_are_rows_of_its_table():
    torch.manual_seed(0)
    V = 7
    model = GPT(GPTConfig(vocab_size=V, max_seq_len=8, bigram=True))
    assert [name for name, _ in model.named_parameters()] == ["token_embedding_table.weight"]
    assert model.token_embedding_table.weight.shape == (V, V) and model.num_parameters() == V * V
    idx = torch.tensor([[3, 0, 3, 6]])
    logits, loss = model(idx, torch.tensor([[0, 3, 6, 1]]))
    table = model.token_embedding_table.weight
    assert_close(logits[0], table[[3, 0, 3, 6]])
    expected = -torch.log_softmax(table, dim=-1)[[3, 0, 3, 6], [0, 3, 6, 1]].mean()
    assert_close(loss, expected)
    # generation works, cached or not: only the last token matters
    gen = [model.generate(idx, 5, generator=torch.Generator().manual_seed(1), use_cache=c) for c in (True, False)]
    assert torch.equal(gen[0], gen[1])


def test_bigram_has_nothing_to_explain():
    model = GPT(GPTConfig(vocab_size=7, max_seq_len=8, bigram=True))
    with pytest.raises(ValueError, match="no attention"):
        explain_model(model, torch.tensor([[1, 2]]), 0, 0)


@pytest.mark.parametrize("switches,point,says", [
    (dict(residual=False), "resid_mid", "no residual"), (dict(ffn=False), "out", "no feed-forward"),
    (dict(norm="none"), "ln1", "no LayerNorm"), (dict(attn_proj=False), "attn.out", "no W_O"),
    (dict(norm="post", residual=False), "resid_mid", "no residual")])
def test_explain_follows_the_switches(switches, point, says):
    torch.manual_seed(3)
    model = GPT(GPTConfig(vocab_size=9, max_seq_len=8, d_model=8, n_heads=2, n_layers=2, **switches)).eval()
    idx = torch.randint(0, 9, (1, 6))
    ex = explain_model(model, idx, 1, 0)
    with torch.no_grad():
        logits, _ = model(idx)
        x = model.blocks[0](model.token_embedding_table(idx) + model.position_embedding_table(torch.arange(6)))
    assert_close(ex["blocks.1.out"], model.blocks[1](x))
    assert_close(ex["logits"], logits)
    formulas = {step.name: step.formula for step in ex.steps}
    assert says in formulas[f"blocks.1.{point}"]
    assert ("blocks.1.ffwd.out" in formulas) == switches.get("ffn", True)


def test_train_flags_carry_the_switches(tmp_path):
    from attnlab.cli import build_parser
    from attnlab.cli.train import resolve_config

    args = build_parser().parse_args(["train", "--out-dir", str(tmp_path), "--no-ffn", "--no-residual",
                                      "--norm", "none", "--no-attn-proj"])
    cfg, _, _ = resolve_config(args)
    model_config = cfg.model_config(vocab_size=5)
    assert (model_config.ffn, model_config.residual, model_config.norm, model_config.attn_proj) == (
        False, False, "none", False)
    assert not model_config.bigram and TrainConfig().ffn and not TrainConfig().bigram  # defaults unchanged
    args = build_parser().parse_args(["train", "--out-dir", str(tmp_path), "--bigram"])
    assert resolve_config(args)[0].model_config(5).bigram


def test_gpt2_export_refuses_the_switches_by_name():
    pytest.importorskip("transformers")
    from attnlab.interop.hf import config_to_hf

    config = GPTConfig(vocab_size=5, max_seq_len=4, d_model=8, n_heads=2, n_layers=1, ffn=False, residual=False,
                       norm="none", attn_proj=False)
    with pytest.raises(ValueError) as info:
        config_to_hf(config)
    message = str(info.value)
    assert "\n" not in message
    for name in ("ffn=False", "residual=False", "norm='none'", "attn_proj=False"):
        assert name in message
    with pytest.raises(ValueError, match="bigram=True"):
        config_to_hf(GPTConfig(vocab_size=5, bigram=True))


def test_why_reads_attention_without_w_o_as_the_identity():
    from attnlab.why.answers import why

    torch.manual_seed(4)
    fields = dict(vocab_size=9, max_seq_len=8, d_model=8, n_heads=2, n_layers=1)
    model = GPT(GPTConfig(**fields, attn_proj=False)).eval()
    idx = torch.tensor([[1, 2, 3, 4]])
    answer = why(model, idx, 3, 0)
    twin = GPT(GPTConfig(**fields)).eval()  # the same weights with W_O = I, b = 0
    twin.load_state_dict(model.state_dict(), strict=False)
    with torch.no_grad():
        twin.blocks[0].attn.proj.weight.copy_(torch.eye(8))
        twin.blocks[0].attn.proj.bias.zero_()
    assert answer["norm"] == why(twin, idx, 3, 0)["norm"]
