"""attnlab.interop.bert: the key table covers our parameters and a checkpoint's; config.json's
fields by name; a checkpoint we cannot load is refused by its keys. (Layer-by-layer parity with
transformers' BertModel: tests/model/test_encoder.py.)"""

import pytest
import torch

from attnlab.interop.bert import HF_UNUSED, config_from_hf, hf_to_ours, load_hf_bert
from attnlab.model.encoder import BertEncoder, BertEncoderConfig

transformers = pytest.importorskip("transformers")


def test_key_table_covers_our_parameters():
    model = BertEncoder(BertEncoderConfig(vocab_size=50, max_seq_len=16, d_model=16, n_heads=2, n_layers=2, d_ff=32))
    assert set(hf_to_ours(2)) == set(model.state_dict())


def tiny_config() -> "transformers.BertConfig":
    return transformers.BertConfig(vocab_size=60, hidden_size=16, num_hidden_layers=2, num_attention_heads=4,
                                   intermediate_size=40, max_position_embeddings=32, layer_norm_eps=1e-7)


def test_the_table_uses_every_weight_of_a_transformers_bert_once():
    hf = set(transformers.BertModel(tiny_config()).state_dict())
    used = [name for names in hf_to_ours(2).values() for name in names]
    assert len(used) == len(set(used)) == 5 + 16 * 2
    assert set(used) | (hf & set(HF_UNUSED)) == hf
    assert hf_to_ours(1)["blocks.0.attn.qkv.weight"] == [f"encoder.layer.0.attention.self.{n}.weight"
                                                         for n in ("query", "key", "value")]  # W_Q, W_K, W_V


def test_config_json_fields_by_name_and_other_architectures_refused():
    data = tiny_config().to_dict()
    assert config_from_hf(data) == BertEncoderConfig(vocab_size=60, max_seq_len=32, type_vocab_size=2, d_model=16,
                                                     n_heads=4, n_layers=2, d_ff=40, layer_norm_eps=1e-7)
    for change in ({"hidden_act": "relu"}, {"position_embedding_type": "relative_key"}):
        with pytest.raises(ValueError, match="only BERT with GELU and absolute position embeddings"):
            config_from_hf({**data, **change})


def test_a_checkpoint_with_a_weight_missing_or_extra_is_refused_by_name(tmp_path):
    from safetensors.torch import load_file, save_file

    torch.manual_seed(0)
    transformers.BertModel(tiny_config()).save_pretrained(tmp_path, safe_serialization=True)
    weights = load_file(str(tmp_path / "model.safetensors"))
    model = load_hf_bert(tmp_path)
    assert isinstance(model, BertEncoder) and not model.training
    key = next(k for k in weights if k.endswith("layer.1.output.dense.bias"))
    torch.testing.assert_close(model.state_dict()["blocks.1.ffwd.down.bias"], weights[key])
    save_file({k: v for k, v in weights.items() if k != key}, str(tmp_path / "model.safetensors"))
    with pytest.raises(ValueError, match=r"not a BERT checkpoint we can load: missing \['encoder.layer.1.output"):
        load_hf_bert(tmp_path)
    save_file({**weights, "encoder.layer.2.output.dense.bias": weights[key].clone()}, str(tmp_path / "model.safetensors"))
    with pytest.raises(ValueError, match=r"unexpected \['encoder.layer.2.output.dense.bias'\]"):
        load_hf_bert(tmp_path)
