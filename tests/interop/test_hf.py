"""attnlab.interop.hf: the key table against the names and shapes of a transformers GPT-2, both
directions of the table, and the checks on config.json and on a checkpoint's headers.
(Logits equal to transformers' GPT-2: tests/model/test_gpt.py.)"""

import dataclasses

import pytest
import torch

from attnlab.config import GPTConfig
from attnlab.interop.hf import (TRANSPOSED, check_hf_config, check_hf_weight_shapes, config_from_hf, config_to_hf,
                                hf_weight_shapes, key_table, load_into_gpt, state_dict_from_hf, state_dict_to_hf)
from attnlab.model.gpt import GPT

transformers = pytest.importorskip("transformers")

CONFIG = GPTConfig(vocab_size=37, max_seq_len=12, d_model=16, n_heads=2, n_layers=2, d_ff=24,
                   activation="gelu_tanh")


def hf_weights(config: GPTConfig) -> dict[str, torch.Tensor]:
    """A transformers GPT2LMHeadModel's weights (the causal-mask buffers left out)."""
    hf = transformers.GPT2LMHeadModel(config_to_hf(config))
    return {k: v for k, v in hf.state_dict().items() if not k.endswith((".attn.bias", ".attn.masked_bias"))}


@pytest.mark.parametrize("tied", [True, False])
def test_the_table_names_every_weight_of_a_transformers_gpt2_with_its_shape(tied):
    config = dataclasses.replace(CONFIG, tie_weights=tied)
    theirs = hf_weights(config)
    expected = {name: tuple(t.shape) for name, t in theirs.items() if tied is False or name != "lm_head.weight"}
    assert hf_weight_shapes(config) == expected
    assert len(key_table(2)) == 4 + 12 * 2 and set(key_table(2).values()) <= set(theirs)
    check_hf_weight_shapes({k: tuple(v.shape) for k, v in theirs.items()}, config, "folder")  # no error


def test_conv1d_weights_are_transposed_and_the_rest_copied_both_ways():
    torch.manual_seed(0)
    model = GPT(dataclasses.replace(CONFIG, tie_weights=False))
    ours = model.state_dict()
    hf = state_dict_to_hf(model)
    for mine, theirs in key_table(2).items():
        expected = ours[mine].t() if mine.endswith(TRANSPOSED) else ours[mine]
        assert torch.equal(hf[theirs], expected), mine
        assert hf[theirs].is_contiguous()
    assert torch.equal(hf["lm_head.weight"], ours["lm_head.weight"])
    back = state_dict_from_hf(hf, model.config)
    assert set(back) == set(ours) and all(torch.equal(back[k], ours[k]) for k in back)
    twin = load_into_gpt(GPT(model.config), back)
    assert all(torch.equal(twin.state_dict()[k], ours[k]) for k in ours)


def test_a_config_goes_to_gpt2_and_back_unchanged():
    for config in (CONFIG, dataclasses.replace(CONFIG, activation="relu", tie_weights=False, dropout=0.1,
                                               layer_norm_eps=1e-6)):
        hf = config_to_hf(config)
        assert (hf.n_embd, hf.n_layer, hf.n_head, hf.n_inner, hf.n_positions) == (16, 2, 2, 24, 12)
        assert config_from_hf(hf) == dataclasses.replace(config, qkv_bias=True)
    assert config_to_hf(CONFIG).activation_function == "gelu_new"


def test_a_checkpoint_unlike_its_config_is_one_line_naming_the_difference():
    shapes = hf_weight_shapes(CONFIG)
    with pytest.raises(ValueError, match=r"the weights hold 2 layers, but config.json says n_layer 3 "
                                         r"\(missing \['transformer.h.2.ln_1.weight'"):
        check_hf_weight_shapes(shapes, dataclasses.replace(CONFIG, n_layers=3), "f")
    narrow = dict(shapes, **{"transformer.h.1.mlp.c_fc.weight": (16, 20)})
    with pytest.raises(ValueError, match=r"f: transformer.h.1.mlp.c_fc.weight has shape \(16, 20\), expected "
                                         r"shape \(16, 24\)"):
        check_hf_weight_shapes(narrow, CONFIG, "f")
    with pytest.raises(ValueError, match="unexpected \\['transformer.extra'\\]"):
        check_hf_weight_shapes(dict(shapes, **{"transformer.extra": (1,)}), CONFIG, "f")
    with pytest.raises(ValueError, match=r"ln_f.weight: expected shape \(16,\), got \(8,\)"):
        load_into_gpt(GPT(CONFIG), dict(state_dict_from_hf(hf_weights(CONFIG), CONFIG),
                                        **{"ln_f.weight": torch.ones(8)}))


@pytest.mark.parametrize("data, words", [
    ({"n_layer": 0}, "n_layer must be a positive integer, got 0"),
    ({"n_head": True}, "n_head must be a positive integer, got True"),
    ({"n_inner": "4"}, "n_inner must be a positive integer or null"),
    ({"attn_pdrop": 1.0}, "attn_pdrop must be a number in [0, 1)"),
    ({"layer_norm_epsilon": float("nan")}, "layer_norm_epsilon must be a positive number"),
    ({"tie_word_embeddings": 1}, "tie_word_embeddings must be true or false"),
    ({"activation_function": "swish"}, "activation_function must be one of gelu_new"),
    ({"n_embd": 10, "n_head": 3}, "n_embd (10) must be divisible by n_head (3)"),
])
def test_config_json_values_are_checked_by_key(data, words):
    with pytest.raises(ValueError) as err:
        check_hf_config(data, "m/config.json")
    assert str(err.value).startswith("m/config.json: ") and words in str(err.value)
    check_hf_config({"n_inner": None, "n_layer": 2, "resid_pdrop": 0}, "m/config.json")  # these are fine


def test_what_gpt2_cannot_express_and_other_scalings_are_refused():
    with pytest.raises(ValueError, match="position='sinusoidal'"):
        config_to_hf(dataclasses.replace(CONFIG, position="sinusoidal"))
    hf = config_to_hf(CONFIG)
    hf.scale_attn_by_inverse_layer_idx = True
    with pytest.raises(ValueError, match="standard 1/sqrt"):
        config_from_hf(hf)
    with pytest.raises(ValueError, match="expected a GPT-2 config"):
        config_from_hf(transformers.BertConfig())
