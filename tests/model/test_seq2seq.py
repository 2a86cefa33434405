"""attnlab.model.seq2seq: the decoder block's three sublayers by their formulas (attention written
out here with softmax), the embedding·√C + PE path, both losses, the shape checks and the key
table's refusals; parity with torch.nn.Transformer (both fast paths) and with seed 002's whole
model, causality and padding."""

import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.testing import assert_close

from seq2seq_helpers import SeedTransformerModel, seq2seq_token_model
from train_helpers import one_thread  # noqa: F401 (an autouse fixture)

from attnlab.config import Seq2SeqConfig
from attnlab.labs.seq2seq.tasks import plus2_regression_data
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


# --- parity with torch.nn.Transformer --------------------------------------------------------------------
def _pair(C, H, F, n_enc, n_dec, norm_first, seed):
    torch.manual_seed(seed)
    ref = nn.Transformer(C, H, n_enc, n_dec, F, dropout=0.0, batch_first=True, norm_first=norm_first).eval()
    norm = "pre" if norm_first else "post"
    enc = Encoder(n_enc, C, H, F, norm=norm).eval()
    dec = Decoder(n_dec, C, H, F, norm=norm).eval()
    copy_from_torch_transformer(enc, dec, ref)
    return ref, enc, dec


def _masks(B, S, T, seed):
    g = torch.Generator().manual_seed(seed)
    src_len = torch.randint(1, S + 1, (B,), generator=g)
    tgt_len = torch.randint(1, T + 1, (B,), generator=g)
    src_pad = torch.arange(S) >= src_len.unsqueeze(1)  # (B, S) True at padding, right-padded
    tgt_pad = torch.arange(T) >= tgt_len.unsqueeze(1)
    return src_pad, tgt_pad


@pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("C,H,F,n_enc,n_dec,B,S,T", [(16, 2, 32, 2, 2, 3, 5, 5), (24, 4, 40, 1, 3, 4, 7, 4),
                                                     (32, 8, 16, 3, 1, 2, 3, 6)])
def test_parity_with_nn_transformer(norm_first, C, H, F, n_enc, n_dec, B, S, T):
    """Fast path off (nested tensors would zero the encoder output at padded positions), so
    every position is compared, padded ones included."""
    ref, enc, dec = _pair(C, H, F, n_enc, n_dec, norm_first, seed=C + n_dec)
    src, tgt = torch.randn(B, S, C), torch.randn(B, T, C)
    src_pad, tgt_pad = _masks(B, S, T, seed=C)
    causal = torch.ones(T, T, dtype=torch.bool).triu(1)  # True = blocked, PyTorch's boolean convention
    prev = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with torch.no_grad():
            memory_ref = ref.encoder(src, src_key_padding_mask=src_pad)
            out_ref = ref(src, tgt, tgt_mask=causal, src_key_padding_mask=src_pad, tgt_key_padding_mask=tgt_pad,
                          memory_key_padding_mask=src_pad)
    finally:
        torch.backends.mha.set_fastpath_enabled(prev)
    with torch.no_grad():
        memory = enc(src, key_padding_mask=src_pad)
        out = dec(tgt, memory, tgt_key_padding_mask=tgt_pad, memory_key_padding_mask=src_pad)
    torch.testing.assert_close(memory, memory_ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out, out_ref, atol=1e-5, rtol=1e-5)


@pytest.mark.filterwarnings("ignore:The PyTorch API of nested tensors")
def test_parity_with_fast_path_on_non_padded_positions():
    """With PyTorch's fast path on, the encoder runs on nested tensors and padded memory rows
    come back as 0; the real positions, and so the decoder output, still agree."""
    ref, enc, dec = _pair(16, 2, 32, 2, 2, False, seed=3)
    B, S, T = 4, 6, 5
    src, tgt = torch.randn(B, S, 16), torch.randn(B, T, 16)
    src_pad, _ = _masks(B, S, T, seed=5)
    with torch.no_grad():
        memory_ref = ref.encoder(src, src_key_padding_mask=src_pad)
        memory = enc(src, key_padding_mask=src_pad)
        out_ref = ref.decoder(tgt, memory_ref, tgt_mask=ref.generate_square_subsequent_mask(T), tgt_is_causal=True,
                              memory_key_padding_mask=src_pad)
        out = dec(tgt, memory, memory_key_padding_mask=src_pad)
    torch.testing.assert_close(memory[~src_pad], memory_ref[~src_pad], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out, out_ref, atol=1e-5, rtol=1e-5)


def test_whole_model_equals_seed_002_transformer_model():
    torch.manual_seed(0)
    seed_model = SeedTransformerModel(1, 16, 2, 2, 2, 32).eval()
    ours = EncoderDecoder(Seq2SeqConfig()).eval()  # the defaults are seed 002's model
    copy_from_torch_transformer(ours.encoder, ours.decoder, seed_model.transformer)
    ours.embed.load_state_dict(seed_model.input_embedding.state_dict())
    ours.head.load_state_dict(seed_model.fc_out.state_dict())
    src, tgt, _ = plus2_regression_data()
    with torch.no_grad():
        torch.testing.assert_close(ours(src, tgt)[0], seed_model(src, tgt), atol=1e-5, rtol=1e-5)


def test_copy_rejects_mismatched_layer_counts():
    ref = nn.Transformer(16, 2, 2, 2, 32, batch_first=True)
    with pytest.raises(ValueError, match="key table"):
        copy_from_torch_transformer(Encoder(1, 16, 2, 32), Decoder(2, 16, 2, 32), ref)


# --- masks and causality -------------------------------------------------------------------------------
@pytest.mark.parametrize("norm", ["pre", "post"])
def test_decoder_never_looks_at_future_target_tokens(norm):
    model = seq2seq_token_model(norm)
    src = torch.randint(3, 9, (2, 6))
    tgt = torch.randint(3, 9, (2, 7))
    with torch.no_grad():
        memory = model.encode(src)
        base = model.decode(tgt, memory)
        for t in range(6):
            changed = tgt.clone()
            changed[:, t + 1:] = torch.randint(3, 9, changed[:, t + 1:].shape)
            out = model.decode(changed, memory)
            torch.testing.assert_close(out[:, :t + 1], base[:, :t + 1])


def test_padded_source_tokens_are_ignored():
    model = seq2seq_token_model()
    src = torch.randint(3, 9, (2, 6))
    src_pad = torch.zeros(2, 6, dtype=torch.bool)
    src_pad[:, 4:] = True
    other = src.clone()
    other[:, 4:] = 7
    tgt = torch.randint(3, 9, (2, 5))
    with torch.no_grad():
        a, _ = model(src, tgt, src_key_padding_mask=src_pad)
        b, _ = model(other, tgt, src_key_padding_mask=src_pad)
    torch.testing.assert_close(a, b)
