"""Hugging Face BERT -> attnlab `BertEncoder`: one explicit key table.

Our `qkv` is W_Q, W_K, W_V stacked on dim 0, so it takes three HF tensors. Nothing is
transposed: both store nn.Linear weights as (out, in). Checkpoint-specific names
(`encoder.layer`, `attention.self.query`, ...) live in this file only.
"""

from __future__ import annotations

from pathlib import Path

import torch

from attnlab.model.encoder import BertEncoder, BertEncoderConfig
from attnlab.errors import UserError
from attnlab.io import load_json

# Present in BERT checkpoints, not used by an encoder that returns hidden states.
HF_UNUSED = ("embeddings.position_ids", "pooler.dense.weight", "pooler.dense.bias")


def config_from_hf(hf: dict) -> BertEncoderConfig:
    """From a Hugging Face BERT `config.json` dict; an architecture we don't build is an error."""
    if hf.get("hidden_act", "gelu") != "gelu" or hf.get("position_embedding_type", "absolute") != "absolute":
        raise UserError("only BERT with GELU and absolute position embeddings is supported")
    return BertEncoderConfig(vocab_size=hf["vocab_size"], max_seq_len=hf["max_position_embeddings"],
                             type_vocab_size=hf["type_vocab_size"], d_model=hf["hidden_size"],
                             n_heads=hf["num_attention_heads"], n_layers=hf["num_hidden_layers"],
                             d_ff=hf["intermediate_size"], layer_norm_eps=hf["layer_norm_eps"])


def hf_to_ours(n_layers: int) -> dict[str, list[str]]:
    """Our parameter name -> the Hugging Face BERT name(s) it is made of (in order)."""
    table = {
        "word_embeddings.weight": ["embeddings.word_embeddings.weight"],
        "position_embeddings.weight": ["embeddings.position_embeddings.weight"],
        "token_type_embeddings.weight": ["embeddings.token_type_embeddings.weight"],
        "embed_norm.weight": ["embeddings.LayerNorm.weight"],
        "embed_norm.bias": ["embeddings.LayerNorm.bias"],
    }
    for i in range(n_layers):
        hf, ours = f"encoder.layer.{i}.", f"blocks.{i}."
        for p in ("weight", "bias"):
            table[f"{ours}attn.qkv.{p}"] = [f"{hf}attention.self.{n}.{p}" for n in ("query", "key", "value")]
            table[f"{ours}attn.proj.{p}"] = [f"{hf}attention.output.dense.{p}"]
            table[f"{ours}ln1.{p}"] = [f"{hf}attention.output.LayerNorm.{p}"]
            table[f"{ours}ffwd.up.{p}"] = [f"{hf}intermediate.dense.{p}"]
            table[f"{ours}ffwd.down.{p}"] = [f"{hf}output.dense.{p}"]
            table[f"{ours}ln2.{p}"] = [f"{hf}output.LayerNorm.{p}"]
    return table


def load_hf_bert(model_dir: str | Path) -> BertEncoder:
    """A BertEncoder with the weights of the Hugging Face BERT checkpoint in `model_dir`
    (`config.json` + `model.safetensors`), in eval mode."""
    from safetensors.torch import load_file

    model_dir = Path(model_dir)
    config = config_from_hf(load_json(model_dir / "config.json"))
    hf = {k.removeprefix("bert."): v for k, v in load_file(str(model_dir / "model.safetensors")).items()}
    table = hf_to_ours(config.n_layers)
    used = [name for names in table.values() for name in names]
    assert len(used) == 5 + 16 * config.n_layers, len(used)
    missing = sorted(set(used) - set(hf))
    unexpected = sorted(set(hf) - set(used) - set(HF_UNUSED))
    if missing or unexpected:
        raise UserError(f"not a BERT checkpoint we can load: missing {missing[:3]}, unexpected {unexpected[:3]}")
    model = BertEncoder(config)
    ours = model.state_dict()
    assert set(ours) == set(table), sorted(set(ours) ^ set(table))[:3]
    state = {name: torch.cat([hf[n] for n in names], dim=0) for name, names in table.items()}
    for name, tensor in state.items():
        assert tensor.shape == ours[name].shape, (name, tuple(tensor.shape), tuple(ours[name].shape))
    model.load_state_dict(state, strict=True)
    return model.eval()
