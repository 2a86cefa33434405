"""Hugging Face GPT-2 <-> attnlab GPT: one explicit key table, both directions.

GPT-2 stores its Linear layers as `Conv1D`, whose weight is (in, out): the transpose of
`nn.Linear`'s (out, in). Those keys are listed in `TRANSPOSED`. Everything else copies as is.
Checkpoint-specific names (`wte`, `c_attn`, ...) live in this file only.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import torch

from attnlab.config import GPTConfig
from attnlab.errors import UserError
from attnlab.io import load_json
from attnlab.model.gpt import GPT
from attnlab.model.memory import BYTES_PER_VALUE, gpt_memory_bytes, gpt_parameter_count, require_memory

# attnlab name -> GPT-2 name; "{i}" is the block index.
TOP_KEYS = {
    "token_embedding_table.weight": "transformer.wte.weight",
    "position_embedding_table.weight": "transformer.wpe.weight",
    "ln_f.weight": "transformer.ln_f.weight",
    "ln_f.bias": "transformer.ln_f.bias",
}
BLOCK_KEYS = {
    "blocks.{i}.ln1.weight": "transformer.h.{i}.ln_1.weight",
    "blocks.{i}.ln1.bias": "transformer.h.{i}.ln_1.bias",
    "blocks.{i}.attn.qkv.weight": "transformer.h.{i}.attn.c_attn.weight",
    "blocks.{i}.attn.qkv.bias": "transformer.h.{i}.attn.c_attn.bias",
    "blocks.{i}.attn.proj.weight": "transformer.h.{i}.attn.c_proj.weight",
    "blocks.{i}.attn.proj.bias": "transformer.h.{i}.attn.c_proj.bias",
    "blocks.{i}.ln2.weight": "transformer.h.{i}.ln_2.weight",
    "blocks.{i}.ln2.bias": "transformer.h.{i}.ln_2.bias",
    "blocks.{i}.ffwd.up.weight": "transformer.h.{i}.mlp.c_fc.weight",
    "blocks.{i}.ffwd.up.bias": "transformer.h.{i}.mlp.c_fc.bias",
    "blocks.{i}.ffwd.down.weight": "transformer.h.{i}.mlp.c_proj.weight",
    "blocks.{i}.ffwd.down.bias": "transformer.h.{i}.mlp.c_proj.bias",
}
TRANSPOSED = ("attn.qkv.weight", "attn.proj.weight", "ffwd.up.weight", "ffwd.down.weight")
# GPT-2 activation names -> ours
ACTIVATIONS = {"gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "gelu": "gelu", "relu": "relu"}


# The keys of a GPT-2 config.json that attnlab reads, by the type each must have. A missing
# key takes GPT2Config's default. Checked on the raw JSON, since GPT2Config stores any value.
HF_INT_KEYS = ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head")
HF_OPTIONAL_INT_KEYS = ("n_inner",)  # null: 4 * n_embd
HF_PROBABILITY_KEYS = ("resid_pdrop", "embd_pdrop", "attn_pdrop")
HF_BOOL_KEYS = ("tie_word_embeddings", "scale_attn_weights", "scale_attn_by_inverse_layer_idx")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_hf_config(data: dict[str, Any], source: str) -> None:
    """Refuse a config.json value of the wrong type or range, naming the key and the file.

    >>> check_hf_config({"n_layer": "12"}, "gpt2/config.json")
    Traceback (most recent call last):
    ValueError: gpt2/config.json: n_layer must be a positive integer, got '12'
    """
    def bad(key: str, what: str) -> ValueError:
        return UserError(f"{source}: {key} must be {what}, got {data[key]!r}")

    for key in HF_INT_KEYS + HF_OPTIONAL_INT_KEYS:
        value = data.get(key)
        if key in data and not (value is None and key in HF_OPTIONAL_INT_KEYS):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise bad(key, "a positive integer" + (" or null" if key in HF_OPTIONAL_INT_KEYS else ""))
    for key in HF_PROBABILITY_KEYS:
        if key in data and not (_is_number(data[key]) and 0 <= data[key] < 1):
            raise bad(key, "a number in [0, 1)")
    eps = data.get("layer_norm_epsilon", 1e-5)
    if not (_is_number(eps) and eps > 0):
        raise bad("layer_norm_epsilon", "a positive number")
    for key in HF_BOOL_KEYS:
        if key in data and not isinstance(data[key], bool):
            raise bad(key, "true or false")
    activation = data.get("activation_function", "gelu_new")
    if not isinstance(activation, str) or activation not in ACTIVATIONS:
        raise bad("activation_function", f"one of {', '.join(ACTIVATIONS)}")
    width, heads = data.get("n_embd", 768), data.get("n_head", 12)
    if width % heads:
        raise UserError(f"{source}: n_embd ({width}) must be divisible by n_head ({heads})")


def key_table(n_layers: int) -> dict[str, str]:
    """Every attnlab key -> its GPT-2 key, for a model of n_layers blocks (lm_head excluded: tied)."""
    table = dict(TOP_KEYS)
    for i in range(n_layers):
        table.update({ours.format(i=i): theirs.format(i=i) for ours, theirs in BLOCK_KEYS.items()})
    return table


def hf_weight_shapes(config: GPTConfig) -> dict[str, tuple[int, ...]]:
    """Every GPT-2 weight name -> the shape a model of `config` needs, read off a one-block GPT
    built on the meta device (shapes, no storage), so that a checkpoint's headers can be
    compared with its config.json before a tensor is allocated."""
    import dataclasses

    with torch.device("meta"):
        state = GPT(dataclasses.replace(config, n_layers=1)).state_dict()
    shapes = {theirs: tuple(state[ours].shape) for ours, theirs in TOP_KEYS.items()}
    block = {theirs: tuple(state[ours.format(i=0)].shape)[::-1] if ours.endswith(TRANSPOSED)
             else tuple(state[ours.format(i=0)].shape) for ours, theirs in BLOCK_KEYS.items()}
    for i in range(config.n_layers):
        shapes.update({theirs.format(i=i): shape for theirs, shape in block.items()})
    if not config.tie_weights:
        shapes["lm_head.weight"] = tuple(state["lm_head.weight"].shape)
    return shapes


def check_hf_weight_shapes(found: dict[str, tuple[int, ...]], config: GPTConfig, where: str) -> None:
    """The names and shapes in a checkpoint's headers (`found`) against what config.json says:
    a config of 100000 layers beside one layer's weights is one line, before anything is built."""
    found = {k: v for k, v in found.items() if not k.endswith((".attn.bias", ".attn.masked_bias"))}
    layers = {int(k.split(".")[2]) for k in found if k.startswith("transformer.h.") and k.split(".")[2].isdigit()}
    if layers != set(range(config.n_layers)):  # told apart before 100000 layers' names are listed
        absent = sorted(set(range(config.n_layers)) - layers)[:1]
        missing = [theirs.format(i=absent[0]) for theirs in BLOCK_KEYS.values()][:3] if absent else []
        raise UserError(f"{where}: the weights hold {len(layers)} layer{'' if len(layers) == 1 else 's'}, "
                        f"but config.json says n_layer {config.n_layers} (missing {missing})")
    expected = hf_weight_shapes(config)
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected) - ({"lm_head.weight"} if config.tie_weights else set()))
    if missing or unexpected:
        raise UserError(f"{where}: the weights do not match config.json: missing {missing[:3]}, "
                        f"unexpected {unexpected[:3]}")
    for name, shape in expected.items():
        if found[name] != shape:
            raise UserError(f"{where}: {name} has shape {found[name]}, expected shape {shape} (config.json)")


def config_from_hf(hf_config: Any) -> GPTConfig:
    """A `transformers.GPT2Config` -> `GPTConfig`; options GPT cannot express are refused."""
    if getattr(hf_config, "model_type", None) != "gpt2":
        raise UserError(f"expected a GPT-2 config (model_type 'gpt2'), got {getattr(hf_config, 'model_type', None)!r}")
    act = hf_config.activation_function
    if act not in ACTIVATIONS:
        raise UserError(f"GPT-2 activation {act!r} is not supported (known: {', '.join(ACTIVATIONS)})")
    if not hf_config.scale_attn_weights or hf_config.scale_attn_by_inverse_layer_idx:
        raise UserError("only GPT-2's standard 1/sqrt(d_head) attention scaling is supported")
    return GPTConfig(
        vocab_size=hf_config.vocab_size,
        max_seq_len=hf_config.n_positions,
        d_model=hf_config.n_embd,
        n_heads=hf_config.n_head,
        n_layers=hf_config.n_layer,
        d_ff=hf_config.n_inner,
        activation=ACTIVATIONS[act],
        norm="pre",
        dropout=hf_config.resid_pdrop,  # GPT-2 has three (embd/attn/resid), attnlab one; all equal in gpt2
        bias=True,
        qkv_bias=True,
        tie_weights=bool(getattr(hf_config, "tie_word_embeddings", True)),
        lm_head_bias=False,
        layer_norm_eps=hf_config.layer_norm_epsilon,
    )


def config_to_hf(config: GPTConfig, **hf_options: Any) -> Any:
    """`GPTConfig` -> `transformers.GPT2Config`. A model GPT-2's architecture cannot express is
    refused with a message naming the option that differs. `hf_options` are passed on to
    `GPT2Config` (e.g. `bos_token_id=None` for a vocabulary without <|endoftext|>)."""
    from transformers import GPT2Config

    differs = []
    if config.norm != "pre":
        differs.append(f"norm={config.norm!r} (GPT-2 is pre-LN)")
    if config.position != "learned":
        differs.append(f"position={config.position!r} (GPT-2 learns its position table)")
    if not config.bias:
        differs.append("bias=False (GPT-2 has biases in every Linear and LayerNorm)")
    if not config.qkv_bias:
        differs.append("qkv_bias=False (GPT-2's c_attn has a bias)")
    if config.lm_head_bias:
        differs.append("lm_head_bias=True (GPT-2's lm_head has no bias)")
    # the ablation switches (attnlab ladder): GPT-2 has every part
    if config.bigram:
        differs.append("bigram=True (GPT-2 has attention blocks)")
    for name, part in (("ffn", "a feed-forward layer"), ("residual", "residual connections"),
                       ("attn_proj", "the attention projection c_proj")):
        if not getattr(config, name):
            differs.append(f"{name}=False (GPT-2 has {part})")
    if differs:
        raise UserError("GPT-2 cannot express this model: " + "; ".join(differs))
    hf_activation = {"gelu_tanh": "gelu_new", "gelu": "gelu", "relu": "relu"}[config.activation]
    return GPT2Config(
        vocab_size=config.vocab_size, n_positions=config.max_seq_len, n_embd=config.d_model,
        n_layer=config.n_layers, n_head=config.n_heads, n_inner=config.d_ff,
        activation_function=hf_activation, layer_norm_epsilon=config.layer_norm_eps,
        resid_pdrop=config.dropout, embd_pdrop=config.dropout, attn_pdrop=config.dropout,
        tie_word_embeddings=config.tie_weights, **hf_options,
    )


def state_dict_from_hf(hf_state: dict[str, torch.Tensor], config: GPTConfig) -> dict[str, torch.Tensor]:
    """GPT-2 tensors -> attnlab tensors, with every key and shape checked."""
    # causal-mask buffers some transformers versions keep in the state dict are not weights
    hf_state = {k: v for k, v in hf_state.items() if not k.endswith((".attn.bias", ".attn.masked_bias"))}
    table = key_table(config.n_layers)
    expected = set(table.values()) | ({"lm_head.weight"} if not config.tie_weights else set())
    optional = {"lm_head.weight"} if config.tie_weights else set()  # tied: same tensor as wte
    missing = sorted(expected - set(hf_state))
    unexpected = sorted(set(hf_state) - expected - optional)
    if missing or unexpected:
        raise UserError(f"GPT-2 weights do not match the config: missing {missing[:5]}, unexpected {unexpected[:5]}")
    ours = {}
    for our_key, hf_key in table.items():
        tensor = hf_state[hf_key]
        ours[our_key] = tensor.t() if our_key.endswith(TRANSPOSED) else tensor
    if not config.tie_weights:
        ours["lm_head.weight"] = hf_state["lm_head.weight"]
    return ours


def state_dict_to_hf(model: GPT) -> dict[str, torch.Tensor]:
    """attnlab GPT -> GPT-2 tensors (contiguous, ready for `load_state_dict` or safetensors)."""
    state = model.state_dict()
    hf = {}
    for our_key, hf_key in key_table(model.config.n_layers).items():
        tensor = state[our_key]
        hf[hf_key] = (tensor.t() if our_key.endswith(TRANSPOSED) else tensor).contiguous()
    if not model.config.tie_weights:
        hf["lm_head.weight"] = state["lm_head.weight"].contiguous()
    return hf


def load_into_gpt(model: GPT, tensors: dict[str, torch.Tensor]) -> GPT:
    """Copy attnlab-named tensors into model, asserting every key and shape matches."""
    own = model.state_dict()
    if model.config.tie_weights:
        own.pop("lm_head.weight", None)
    if set(own) != set(tensors):
        raise UserError(f"weights do not match the model: missing {sorted(set(own) - set(tensors))[:5]}, "
                         f"unexpected {sorted(set(tensors) - set(own))[:5]}")
    for key, tensor in tensors.items():
        if own[key].shape != tensor.shape:
            raise UserError(f"{key}: expected shape {tuple(own[key].shape)}, got {tuple(tensor.shape)}")
    model.load_state_dict(tensors, strict=not model.config.tie_weights)
    return model


def hf_import_bytes(config: GPTConfig) -> int:
    """Memory an import needs: the GPT (weights and one forward pass) and, alongside it while
    they are copied in, the checkpoint's own tensors."""
    return gpt_memory_bytes(config) + BYTES_PER_VALUE * gpt_parameter_count(config)


def gpt_from_hf(source: Any) -> GPT:
    """Build an attnlab `GPT` from a `transformers.GPT2LMHeadModel` object or a local folder
    written by `save_pretrained` (read offline; nothing is downloaded)."""
    if isinstance(source, (str, os.PathLike)):
        from transformers import GPT2Config, GPT2LMHeadModel

        path = Path(source)
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"{path} has no config.json: not a Hugging Face model folder")
        data = load_json(path / "config.json")
        if not isinstance(data, dict):
            raise UserError(f"{path / 'config.json'} is not a JSON object")
        check_hf_config(data, str(path / "config.json"))
        require_memory(hf_import_bytes(config_from_hf(GPT2Config.from_dict(data))), f"the model in {path}")
        source = GPT2LMHeadModel.from_pretrained(path, local_files_only=True)
    config = config_from_hf(source.config)
    model = GPT(config)
    load_into_gpt(model, state_dict_from_hf(source.state_dict(), config))
    return model.eval()
