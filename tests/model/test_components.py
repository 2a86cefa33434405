"""attnlab.model.components: each name a config gives builds the module its row says, and an
unknown name is refused by name."""

import math

import pytest
import torch
import torch.nn as nn
from torch.testing import assert_close

from attnlab.model.components import make_activation, make_block, make_norm, make_position
from attnlab.model.embeddings import sinusoidal_table


def test_make_block_builds_the_named_parts():
    block = make_block(16, 4, d_ff=40, activation="gelu_tanh", norm="post", layer_norm_eps=1e-6, bias=False)
    assert isinstance(block.ln1, nn.LayerNorm) and block.ln1.eps == 1e-6 and block.ln1.bias is None
    assert not block.pre_norm and block.residual
    assert isinstance(block.ffwd.act, nn.GELU) and block.ffwd.act.approximate == "tanh"
    assert block.ffwd.up.weight.shape == (40, 16)
    none = make_block(16, 4, norm="none", ffn=False, residual=False)
    assert isinstance(none.ln1, nn.Identity) and none.pre_norm  # no LayerNorm: the pre-LN path
    assert none.ffwd is None and none.ln2 is None and not none.residual
    with pytest.raises(ValueError, match="unknown norm 'mid'"):
        make_block(16, 4, norm="mid")
    with pytest.raises(ValueError, match="unknown activation 'tanh'"):
        make_block(16, 4, activation="tanh")


def test_each_activation_name_computes_its_formula():
    x = torch.linspace(-4, 4, 41, dtype=torch.float64)
    assert_close(make_activation("relu")(x), x.clamp(min=0))
    assert_close(make_activation("gelu")(x), 0.5 * x * (1 + torch.erf(x / math.sqrt(2))))
    gelu_new = 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))  # GPT-2's
    assert_close(make_activation("gelu_tanh")(x), gelu_new)
    assert make_activation("relu") is not make_activation("relu")  # a fresh module per block
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        make_activation("swish")


def test_positions_learned_are_a_trained_table_and_sinusoidal_the_fixed_waves():
    learned = make_position("learned", 7, 6)
    assert isinstance(learned, nn.Embedding) and learned.weight.shape == (7, 6) and learned.weight.requires_grad
    waves = make_position("sinusoidal", 7, 6)
    pos = torch.tensor([0, 3, 6])
    assert_close(waves(pos), sinusoidal_table(7, 6)[pos])
    assert list(waves.parameters()) == [] and waves.state_dict() == {}  # nothing to train or save
    with pytest.raises(ValueError, match="unknown position 'rotary'"):
        make_position("rotary", 7, 6)


def test_norms_pre_and_post_are_layernorms_and_none_is_the_identity():
    x = torch.randn(2, 3, 8)
    ln = make_norm("pre", 8, eps=1e-6)
    expected = (x - x.mean(-1, keepdim=True)) / torch.sqrt(x.var(-1, unbiased=False, keepdim=True) + 1e-6)
    assert_close(ln(x), expected, atol=1e-5, rtol=1e-5)
    assert make_norm("post", 8, bias=False).bias is None
    assert make_norm("none", 8)(x) is x
    with pytest.raises(ValueError, match="unknown norm 'rms'"):
        make_norm("rms", 8)
