"""attnlab.model.memory: parameter counts equal built models', estimates grow with what they count,
and an absurd model is refused with the figures before anything is allocated."""

import pytest
import torch

from attnlab.model import memory
from attnlab.config import GPTConfig, Seq2SeqConfig
from attnlab.model.gpt import GPT
from attnlab.model.seq2seq import EncoderDecoder

GPT_CONFIGS = [
    GPTConfig(vocab_size=65, max_seq_len=64, d_model=32, n_heads=4, n_layers=2),
    GPTConfig.seed(vocab_size=65, max_seq_len=8),  # untied lm_head with a bias, bias-free q/k/v
    GPTConfig(vocab_size=7, max_seq_len=5, d_model=16, n_heads=2, n_layers=3, d_ff=24, bias=False,
              tie_weights=False),
    GPTConfig(vocab_size=11, max_seq_len=9, d_model=8, n_heads=1, n_layers=1, qkv_bias=False, lm_head_bias=True),
    # the ladder's switches
    GPTConfig(vocab_size=13, max_seq_len=8, bigram=True),
    GPTConfig(vocab_size=13, max_seq_len=8, d_model=16, n_heads=2, n_layers=2, ffn=False, attn_proj=False),
    GPTConfig(vocab_size=13, max_seq_len=8, d_model=16, n_heads=2, n_layers=2, norm="none", residual=False),
    GPTConfig(vocab_size=13, max_seq_len=8, d_model=16, n_heads=2, n_layers=2, norm="post", ffn=False, bias=False,
              init="torch"),
]


@pytest.mark.parametrize("config", GPT_CONFIGS)
def test_gpt_parameter_bytes_equal_a_built_models(config):
    model = GPT(config)
    assert memory.gpt_parameter_count(config) == sum(p.numel() for p in model.parameters())
    assert 4 * memory.gpt_parameter_count(config) == sum(p.numel() * p.element_size() for p in model.parameters())


@pytest.mark.parametrize("config", [
    Seq2SeqConfig(),  # seed 002's continuous model
    Seq2SeqConfig(src_vocab_size=13, tgt_vocab_size=15, max_seq_len=11, d_model=32, n_heads=4, d_ff=64, norm="pre"),
    Seq2SeqConfig(src_vocab_size=5, tgt_vocab_size=5, n_encoder_layers=1, n_decoder_layers=3),
])
def test_seq2seq_parameter_count_equals_a_built_models(config):
    assert memory.seq2seq_parameter_count(config) == sum(p.numel() for p in EncoderDecoder(config).parameters())


def test_training_needs_the_state_of_four_fp32_values_per_parameter_and_more_per_token():
    c = GPT_CONFIGS[0]
    weights = 4 * memory.gpt_parameter_count(c)
    one = memory.gpt_memory_bytes(c, batch_size=1, training=True)
    assert one > 4 * weights
    assert memory.gpt_memory_bytes(c, batch_size=8, training=True) > one
    assert memory.gpt_memory_bytes(c, training=False) < one
    assert memory.gpt_memory_bytes(c, kv_cache_len=64) - memory.gpt_memory_bytes(c) == 4 * 2 * 2 * 64 * 32


def test_the_inference_estimate_covers_what_a_forward_pass_allocates():
    """The estimate is meant to be an upper bound of the same order: checked against the
    weights plus the logits PyTorch returns for a full-length batch."""
    c = GPT_CONFIGS[0]
    model = GPT(c)
    with torch.no_grad():
        logits, _ = model(torch.zeros(3, 64, dtype=torch.long))
    weights = sum(p.numel() * 4 for p in model.parameters())
    assert memory.gpt_memory_bytes(c, batch_size=3) >= weights + logits.numel() * 4


def test_a_million_layers_are_refused_with_the_figures():
    huge = memory.gpt_memory_bytes(GPTConfig(n_layers=1_000_000))
    with pytest.raises(ValueError) as err:
        memory.require_memory(huge, "this GPT", hint="use fewer layers")
    message = str(err.value)
    assert message.startswith(f"this GPT needs {memory.format_bytes(huge)} of memory, but ")
    assert "is available on cpu; use fewer layers" in message and "\n" not in message


def test_what_fits_is_accepted():
    memory.require_memory(memory.gpt_memory_bytes(GPT_CONFIGS[0], training=True), "a tiny GPT")


def test_available_memory_reads_the_systems_figure(monkeypatch):
    free = memory.available_memory("cpu")
    assert free is None or free > 0
    monkeypatch.setattr(memory, "_system_free", lambda: 5_000)
    monkeypatch.setattr(memory, "_cgroup_free", lambda: 3_000)
    assert memory.available_memory("cpu") == 3_000  # a container's limit lowers the system's figure
    with pytest.raises(ValueError, match="needs 4.0 kB of memory, but 3.0 kB is available"):
        memory.require_memory(4_000, "it")


def test_unknown_available_memory_does_not_refuse(monkeypatch):
    monkeypatch.setattr(memory, "_system_free", lambda: None)
    monkeypatch.setattr(memory, "_cgroup_free", lambda: None)
    assert memory.available_memory() is None
    memory.require_memory(10**18, "anything")


@pytest.mark.parametrize("n, text", [(0, "0 B"), (999, "999 B"), (1500, "1.5 kB"), (7_500_000_000, "7.5 GB"),
                                     (3 * 10**12, "3.0 TB"), (2 * 10**15, "2.0 PB"), (8 * 10**24, "8.0e+24 bytes")])
def test_format_bytes(n, text):
    assert memory.format_bytes(n) == text
