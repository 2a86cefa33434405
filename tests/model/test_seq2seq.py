"""attnlab.model.seq2seq: the decoder block's three sublayers by their formulas (attention written
out here with softmax), the embedding·√C + PE path, both losses, the shape checks and the key
table's refusals. Parity with torch.nn.Transformer and causality: tests/labs/test_seq2seq.py."""

import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.testing import assert_close

from attnlab.config import Seq2SeqConfig
from attnlab.model.embeddings import sinusoidal_table
from attnlab.model.points import named_points
from attnlab.model.seq2seq import Decoder, DecoderBlock, Encoder, EncoderDecoder, copy_from_torch_transformer


def attention_by_hand(attn, x: torch.Tensor, memory: torch.Tensor | None = None, causal: bool = False):
    """softmax(q·kᵀ/√D)·v per head, q from x and k, v from memory (or x), heads concatenated, W_O."""
    C, H = x.shape[-1], attn.n_heads
    D = C // H
    w_q, w_k, w_v = attn.qkv.weight.split(C)
    b_q, b_k, b_v = attn.qkv.bias.split(C)
    source = x if memory is None else memory
    q, k, v = F.linear(x, w_q, b_q), F.linear(source, w_k, b_k), F.linear(source, w_v, b_v)
    heads = []
    for h in range(H):
        part = slice(h * D, (h + 1) * D)
        scores = q[..., part] @ k[..., part].transpose(-1, -2) / math.sqrt(D)  # (B, T, S)
        if causal:
            scores = scores.masked_fill(torch.ones_like(scores, dtype=torch.bool).triu(1), float("-inf"))
        heads.append(scores.softmax(-1) @ v[..., part])
    return attn.proj(torch.cat(heads, dim=-1))


@pytest.mark.parametrize("norm", ["pre", "post"])
def test_a_decoder_block_follows_its_formula(norm):
    torch.manual_seed(0)
    block = DecoderBlock(12, 3, d_ff=20, norm=norm).eval()
    x, memory = torch.randn(2, 5, 12), torch.randn(2, 7, 12)
    with torch.no_grad():
        sa = lambda h: attention_by_hand(block.self_attn, h, causal=True)  # noqa: E731
        ca = lambda h: attention_by_hand(block.cross_attn, h, memory)  # noqa: E731
        ff = lambda h: block.ffwd.down(F.relu(block.ffwd.up(h)))  # noqa: E731
        if norm == "pre":
            h = x + sa(block.ln1(x))
            h = h + ca(block.ln2(h))
            expected = h + ff(block.ln3(h))
        else:
            h = block.ln1(x + sa(x))
            h = block.ln2(h + ca(h))
            expected = block.ln3(h + ff(h))
        assert_close(block(x, memory), expected, atol=1e-5, rtol=1e-5)


def token_model(norm: str = "pre") -> EncoderDecoder:
    torch.manual_seed(1)
    return EncoderDecoder(Seq2SeqConfig(src_vocab_size=11, tgt_vocab_size=7, max_seq_len=16, d_model=8, n_heads=2,
                                        n_encoder_layers=1, n_decoder_layers=2, d_ff=16, norm=norm,
                                        dropout=0.0)).eval()


def test_tokens_are_embedded_times_sqrt_c_plus_the_waves():
    model = token_model()
    src, tgt = torch.randint(0, 11, (3, 6)), torch.randint(0, 7, (3, 4))
    pe = sinusoidal_table(16, 8)
    with torch.no_grad():
        memory = model.encoder(model.src_embed(src) * math.sqrt(8) + pe[:6])
        assert_close(model.encode(src), memory)
        logits = model.head(model.decoder(model.tgt_embed(tgt) * math.sqrt(8) + pe[:4], memory))
        out, loss = model(src, tgt)
    assert out.shape == (3, 4, 7) and loss is None
    assert_close(out, logits)


def test_the_token_loss_is_cross_entropy_over_the_targets_that_are_not_minus_one():
    model = token_model("post")
    src, tgt = torch.randint(0, 11, (2, 5)), torch.randint(0, 7, (2, 4))
    targets = torch.tensor([[1, 2, -1, -1], [6, 0, 3, -1]])
    with torch.no_grad():
        out, loss = model(src, tgt, targets)
    logp = out.log_softmax(-1)
    kept = [(b, t) for b in range(2) for t in range(4) if targets[b, t] >= 0]
    by_hand = -sum(logp[b, t, targets[b, t]] for b, t in kept) / len(kept)
    assert_close(loss, by_hand)


def test_continuous_values_share_one_embedding_and_are_scored_by_mse():
    torch.manual_seed(2)
    model = EncoderDecoder(Seq2SeqConfig(dropout=0.0, max_seq_len=32)).eval()
    assert not hasattr(model, "src_embed") and model.head.out_features == 1
    src, tgt, targets = torch.randn(2, 5, 1), torch.randn(2, 3, 1), torch.randn(2, 3, 1)
    with torch.no_grad():
        out, loss = model(src, tgt, targets)
    assert out.shape == (2, 3, 1)
    assert_close(loss, ((out - targets) ** 2).mean())
    with pytest.raises(ValueError, match=r"continuous inputs must be \(B, T, 1\) values, got shape \(2, 5\)"):
        model.encode(torch.randn(2, 5))
    with pytest.raises(ValueError, match=r"token inputs must be \(B, T\) ids, got shape \(2, 5, 1\)"):
        token_model().encode(torch.zeros(2, 5, 1, dtype=torch.long))


def test_the_named_points_read_like_the_stacks():
    names = list(named_points(token_model()))
    for name in ("encoder.embed", "encoder.ln_f", "encoder.blocks.0.attn.weights", "decoder.embed",
                 "decoder.blocks.1.self_attn.weights", "decoder.blocks.1.cross_attn.weights",
                 "decoder.blocks.1.resid_self", "decoder.blocks.1.ln3", "decoder.ln_f", "logits"):
        assert name in names, name
    assert not any(name.startswith("encoder.blocks.1") for name in names)  # one encoder layer


def test_the_key_table_refuses_a_transformer_of_another_width_by_tensor():
    ref = nn.Transformer(16, 2, 1, 1, dim_feedforward=64, batch_first=True)
    with pytest.raises(ValueError, match=r"linear1.weight \(64, 16\) does not fit encoder.blocks.0.ffwd.up.weight "
                                         r"\(32, 16\)"):
        copy_from_torch_transformer(Encoder(1, 16, 2, 32), Decoder(1, 16, 2, 32), ref)
    with pytest.raises(ValueError, match="unknown norm 'none'"):
        DecoderBlock(16, 2, norm="none")
