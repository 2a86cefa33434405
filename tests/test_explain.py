import pytest
import torch
import torch.nn.functional as F

from attnlab.config import GPTConfig
from attnlab.model.encoder import BertEncoder, BertEncoderConfig
from attnlab.model.gpt import GPT
from attnlab.viz.capture import capture_attention
from attnlab.viz.explain import (SEED_000, SEED_004, explain_attention, explain_model, explain_weighted_sum,
                                 format_explanation)


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


def tiny_gpt(norm: str) -> GPT:
    torch.manual_seed(1)
    return GPT(GPTConfig(vocab_size=23, max_seq_len=16, d_model=32, n_heads=4, n_layers=3, norm=norm,
                         dropout=0.1)).eval()


@pytest.mark.parametrize("norm", ["pre", "post"])
def test_explained_gpt_equals_the_model(norm):
    model = tiny_gpt(norm)
    idx = torch.randint(0, 23, (1, 9))
    layer, head = 1, 2
    ex = explain_model(model, idx, layer, head)
    with torch.no_grad(), capture_attention(model) as maps:
        logits, _ = model(idx)
        x = model.token_embedding_table(idx) + model.position_embedding_table(torch.arange(9))
        x = model.blocks[0](x)
        block = model.blocks[layer]
        attn_in = block.ln1(x) if norm == "pre" else x
        attn_out = block.attn(attn_in)
        block_out = block(x)
    torch.testing.assert_close(ex["x"], x)
    torch.testing.assert_close(ex["weights"], maps[f"blocks.{layer}.attn"][:, head])
    torch.testing.assert_close(ex["attn_out"], attn_out)
    torch.testing.assert_close(ex["block_out"], block_out)
    torch.testing.assert_close(ex["logits"], logits)
    B, T, C, H, D = 1, 9, 32, 4, 8
    shapes = {n: tuple(ex[n].shape) for n in ex.names()}
    assert shapes["qkv"] == (B, T, 3 * C) and shapes["q_heads"] == (B, H, T, D)
    assert shapes["q"] == shapes["out"] == (B, T, D) and shapes["weights"] == (B, T, T)
    assert shapes["concat"] == shapes["block_out"] == (B, T, C)
    assert model.training is False


def test_explained_encoder_head_equals_the_model_and_restores_train_mode():
    torch.manual_seed(2)
    model = BertEncoder(BertEncoderConfig(vocab_size=40, max_seq_len=16, d_model=24, n_heads=3, n_layers=2, d_ff=48)).train()
    idx = torch.randint(0, 40, (1, 6))
    ex = explain_model(model, idx, 0, 1)
    assert model.training
    model.eval()
    with torch.no_grad(), capture_attention(model) as maps:
        hidden = model(idx)
    torch.testing.assert_close(ex["weights"], maps["blocks.0.attn"][:, 1])
    torch.testing.assert_close(ex["block_out"], model.blocks[0](model.embed(idx)))
    torch.testing.assert_close(ex["hidden"], hidden)
    assert not torch.isneginf(ex["masked"]).any()  # an encoder sees both ways


def test_formatter_summarises_long_tensors_and_selects_a_token():
    model = tiny_gpt("pre")
    ex = explain_model(model, torch.randint(0, 23, (1, 5)), 0, 0, tokens=list("hello"))
    text = format_explanation(ex)
    assert "mean" in text and "std" in text
    assert len(text.splitlines()) < 150  # summarised, not dumped
    row = format_explanation(ex, token=4)
    lines = row.splitlines()
    masked_row = lines[lines.index(next(l for l in lines if l.startswith("masked"))) + 1]
    assert masked_row.startswith("    4:o:") and "-inf" not in masked_row  # the last token sees all
    first_row = format_explanation(ex, token=0).splitlines()
    assert first_row[first_row.index(next(l for l in first_row if l.startswith("masked"))) + 1].count("-inf") == 4


def test_layer_and_head_out_of_range():
    model = tiny_gpt("pre")
    with pytest.raises(ValueError, match="layer 3 out of range"):
        explain_model(model, torch.tensor([[1, 2]]), 3, 0)
    with pytest.raises(ValueError, match="head 4 out of range"):
        explain_model(model, torch.tensor([[1, 2]]), 0, 4)
