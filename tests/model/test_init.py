"""attnlab.model.init: each scheme's weights, measured on the drawn tensors."""

import math

import pytest
import torch

from attnlab import GPT, GPTConfig


def test_init_torch_keeps_pytorchs_own_initialisation():
    fields = dict(vocab_size=50, max_seq_len=8, d_model=64, n_heads=2, n_layers=1, tie_weights=False)
    torch.manual_seed(0)
    gpt2 = GPT(GPTConfig(**fields))
    torch.manual_seed(0)
    lecture = GPT(GPTConfig(**fields, init="torch"))
    # nn.Embedding draws N(0, 1); nn.Linear draws U(-1/sqrt(in), 1/sqrt(in)), biases too
    assert abs(lecture.token_embedding_table.weight.std().item() - 1.0) < 0.05
    assert abs(gpt2.token_embedding_table.weight.std().item() - 0.02) < 0.002
    bound = 1 / 64 ** 0.5
    qkv = lecture.blocks[0].attn.qkv
    assert qkv.weight.abs().max() <= bound and qkv.weight.std() > bound / 2  # uniform: std = bound / sqrt(3)
    assert qkv.bias.abs().max() > 0 and not gpt2.blocks[0].attn.qkv.bias.any()
    with pytest.raises(ValueError, match="unknown init 'xavier'"):
        GPTConfig(vocab_size=5, init="xavier")


def test_lecun_init_draws_every_weight_with_std_one_over_sqrt_fan_in():
    """init="lecun" (the grokking lab's): Linear weights N(0, 1/in_features), embeddings
    N(0, 1/d_model), zero biases; measured on the drawn tensors, not read back from the code."""
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=300, max_seq_len=3, d_model=128, n_heads=4, n_layers=1, d_ff=512,
                          activation="relu", norm="none", tie_weights=False, init="lecun"))
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear):
            assert module.weight.std().item() == pytest.approx(module.in_features ** -0.5, rel=0.05), name
            assert module.bias is None or not module.bias.any(), name
        elif isinstance(module, torch.nn.Embedding):
            assert module.weight.std().item() == pytest.approx(128 ** -0.5, rel=0.05), name


def test_gpt2_init_scales_the_projections_that_end_each_residual_branch():
    """N(0, 0.02) everywhere, zero biases, but W_O and the feed-forward `down` at
    0.02 / sqrt(2 * n_layers): with 4 layers, 0.02 / sqrt(8) = 0.00707."""
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=300, max_seq_len=64, d_model=128, n_heads=4, n_layers=4, tie_weights=False))
    ends = {f"blocks.{i}.{p}" for i in range(4) for p in ("attn.proj", "ffwd.down")}
    for name, module in model.named_modules():
        if isinstance(module, (torch.nn.Linear, torch.nn.Embedding)):
            std = 0.02 / math.sqrt(8) if name in ends else 0.02
            assert module.weight.std().item() == pytest.approx(std, rel=0.05), name
            assert module.weight.mean().abs().item() < std / 5, name
        if isinstance(module, torch.nn.Linear) and module.bias is not None:
            assert not module.bias.any(), name
    assert model.config.init == "gpt2"  # the default
