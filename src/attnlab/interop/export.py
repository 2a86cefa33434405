"""A trained attnlab run -> a Hugging Face GPT-2 folder, and a GPT-2 folder -> an attnlab run.

    export_hf("runs/cpu-shakespeare-char", "exported/shakespeare")
    # transformers.pipeline("text-generation", model="exported/shakespeare") now works offline

    import_hf("my-gpt2-copy", "runs/gpt2")
    # attnlab generate --run runs/gpt2 --prompt "Hello"

An exported folder holds config.json (a `GPT2Config`, plus the run's training settings under
"attnlab", which transformers keeps but ignores), model.safetensors (the GPT-2 key names of
`interop/hf.py`'s table), generation_config.json and the tokenizer files
(`interop/hf_tokenizer.py`). Importing it again gives back the run's config.json and weights
bit for bit. Both directions build the result in a temp folder and rename it into place at the
end, so a failure leaves nothing at the destination.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from attnlab.runs.checkpoint import load_model, read_config, read_run_config, save_checkpoint, save_run_config
from attnlab.config import GPTConfig, TrainConfig
from attnlab.interop.folder import atomic_folder, check_apart, check_destination
from attnlab.interop.hf import (check_hf_config, check_hf_weight_shapes, config_from_hf, config_to_hf,
                                hf_import_bytes, load_into_gpt, state_dict_from_hf, state_dict_to_hf)
from attnlab.interop.hf_tokenizer import load_hf_tokenizer, save_hf_tokenizer, special_token_ids
from attnlab.io import load_json, load_tensors, load_torch, save_tensors
from attnlab.model.memory import require_memory
from attnlab.model.gpt import GPT
from attnlab.errors import UserError

HF_WEIGHTS = "model.safetensors"
HF_SHARD_INDEX = "model.safetensors.index.json"
HF_TORCH_WEIGHTS = "pytorch_model.bin"
GENERATION_CONFIG = "generation_config.json"
HF_FOLDER = "Hugging Face GPT-2 folder"  # the "what" in an exported folder's marker
RUN_FOLDER = "run folder"
ATTNLAB_KEY = "attnlab"  # our extra entry in an exported config.json: {"train": ..., "tokenizer": ...}
INSTALL = "pip install 'attnlab[hf]'  (or: pip install transformers)"


def _transformers():
    try:
        import transformers
    except ImportError:
        raise UserError(f"the Hugging Face bridge needs transformers: {INSTALL}") from None
    return transformers


def export_hf(run_dir: str | os.PathLike, out_dir: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write run_dir's model as a GPT-2 folder at out_dir; a model GPT-2 cannot express
    (post-LN, bias-free layers or q/k/v, an lm_head bias) is refused, naming the options."""
    transformers = _transformers()
    check_apart(run_dir, out_dir)
    check_destination(out_dir, overwrite, HF_FOLDER)
    model, tokenizer = load_model(run_dir)
    _, train_config, _ = read_run_config(run_dir)
    special = special_token_ids(tokenizer)
    saved = {"train": train_config.to_dict(), "tokenizer": tokenizer.name}
    corpus_path = read_config(run_dir, "gpt").get("corpus_path")
    if isinstance(corpus_path, str):
        saved["corpus_path"] = corpus_path
    # raises, naming what GPT-2 lacks; the "attnlab" entry lets import_hf restore the run exactly
    hf_config = config_to_hf(model.config, architectures=["GPT2LMHeadModel"], **special, **{ATTNLAB_KEY: saved})
    with atomic_folder(out_dir, overwrite, what=HF_FOLDER) as tmp:
        save_hf_tokenizer(tokenizer, tmp, model.config.max_seq_len)
        hf_config.save_pretrained(tmp)
        save_tensors(tmp / HF_WEIGHTS, state_dict_to_hf(model), metadata={"format": "pt"})
        transformers.GenerationConfig(**special).save_pretrained(tmp)
    return Path(out_dir)


def _hf_prefixed(name: str) -> str:
    """Names saved from the bare `GPT2Model` ("h.0.attn...") get the "transformer." prefix."""
    return name if name.startswith(("transformer.", "lm_head.")) else f"transformer.{name}"


def _shard_files(hf_dir: Path) -> list[Path]:
    """The safetensors files of a model folder: model.safetensors, or the shards its index names
    (each inside the folder)."""
    if (hf_dir / HF_WEIGHTS).is_file():
        return [hf_dir / HF_WEIGHTS]
    index = load_json(hf_dir / HF_SHARD_INDEX)
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict):
        raise UserError(f"{hf_dir / HF_SHARD_INDEX} has no weight_map")
    return sorted(dict.fromkeys(inside(hf_dir, shard, HF_SHARD_INDEX) for shard in weight_map.values()))


def read_hf_shapes(hf_dir: Path) -> dict[str, tuple[int, ...]] | None:
    """Every weight's name -> shape, from the safetensors headers alone (no tensor is read);
    None for a folder that holds only pytorch_model.bin."""
    from safetensors import safe_open

    if not (hf_dir / HF_WEIGHTS).is_file() and not (hf_dir / HF_SHARD_INDEX).is_file():
        return None
    shapes = {}
    for shard in _shard_files(hf_dir):
        if not shard.is_file():
            raise FileNotFoundError(f"{shard} not found")
        try:
            with safe_open(str(shard), framework="pt") as f:
                for name in f.keys():
                    shapes[_hf_prefixed(name)] = tuple(f.get_slice(name).get_shape())
        except Exception as exc:  # safetensors raises its own error types for a damaged header
            raise UserError(f"{shard} is not a valid safetensors file ({str(exc).splitlines()[0]})") from None
    return shapes


def read_hf_weights(hf_dir: Path) -> dict[str, torch.Tensor]:
    """model.safetensors (one file or shards), else pytorch_model.bin (weights_only); names
    saved from the bare `GPT2Model` ("h.0.attn...") get the "transformer." prefix."""
    if (hf_dir / HF_WEIGHTS).is_file() or (hf_dir / HF_SHARD_INDEX).is_file():
        tensors = {}
        for shard in _shard_files(hf_dir):
            tensors.update(load_tensors(shard))
    elif (hf_dir / HF_TORCH_WEIGHTS).is_file():
        tensors = load_torch(hf_dir / HF_TORCH_WEIGHTS)
        if not isinstance(tensors, dict) or not all(isinstance(t, torch.Tensor) for t in tensors.values()):
            raise UserError(f"{hf_dir / HF_TORCH_WEIGHTS} is not a state dict of tensors")
    else:
        raise FileNotFoundError(f"{hf_dir} has no weights ({HF_WEIGHTS} or {HF_TORCH_WEIGHTS})")
    return {_hf_prefixed(k): v for k, v in tensors.items()}


def inside(folder: Path, name: object, named_in: str) -> Path:
    """folder/name for a file name read from a file in `folder` (a shard index's weight_map):
    a plain relative path that stays inside the folder, else a one-line error. Checked on the
    name itself ('..', absolute paths, a drive); a symlink the folder holds is the folder's own."""
    text = name if isinstance(name, str) else ""
    parts = Path(text).parts
    if not text or "\0" in text or Path(text).is_absolute() or Path(text).drive or ".." in parts \
            or "\\" in text:
        raise UserError(f"{folder / named_in} names {name!r}: files it names must be inside {folder} "
                         f"(a plain relative path, no '..')")
    return folder / text


def _train_config(hf_data: dict[str, Any], model_config: GPTConfig, tokenizer_name: str) -> TrainConfig:
    """The run's training settings: those saved by export_hf when they still describe this
    model, else the defaults with the model's shape (what `attnlab train` would need to
    train a model like it)."""
    saved = hf_data.get(ATTNLAB_KEY)
    if isinstance(saved, dict) and isinstance(saved.get("train"), dict):
        try:
            train = TrainConfig.from_dict(saved["train"])
            if train.model_config(model_config.vocab_size) == model_config:
                return train
        except (TypeError, ValueError):
            pass
    fields = {name: getattr(model_config, name) for name in ("n_layers", "n_heads", "d_model", "d_ff",
              "activation", "norm", "dropout", "bias", "qkv_bias", "tie_weights", "lm_head_bias")}
    tokenizer = tokenizer_name if tokenizer_name in ("char", "bpe", "gpt2") else "bpe"
    return TrainConfig(block_size=model_config.max_seq_len, tokenizer=tokenizer, **fields)


def _corpus_path(hf_data: dict[str, Any]) -> str | None:
    """The exported run's absolute corpus path (export_hf keeps it in the "attnlab" entry)."""
    saved = hf_data.get(ATTNLAB_KEY)
    path = saved.get("corpus_path") if isinstance(saved, dict) else None
    return path if isinstance(path, str) and Path(path).is_absolute() else None


def import_hf(hf_dir: str | os.PathLike, out_run_dir: str | os.PathLike, overwrite: bool = False) -> Path:
    """Turn a local GPT-2-format folder (config.json, weights, tokenizer files) into an attnlab
    run folder that `attnlab.runs.checkpoint.load_model` (and every command) loads."""
    transformers = _transformers()
    hf_dir = Path(hf_dir)
    check_apart(hf_dir, out_run_dir)
    check_destination(out_run_dir, overwrite, RUN_FOLDER)
    if not hf_dir.is_dir():
        raise FileNotFoundError(f"{hf_dir} is not a folder")
    if not (hf_dir / "config.json").is_file():
        raise FileNotFoundError(f"{hf_dir} has no config.json: not a Hugging Face model folder")
    hf_data = load_json(hf_dir / "config.json")
    model_type = hf_data.get("model_type") if isinstance(hf_data, dict) else None
    if model_type != "gpt2":
        raise UserError(f"{hf_dir / 'config.json'}: model_type is {model_type!r}; only GPT-2 ('gpt2') "
                         f"models can be imported")
    check_hf_config(hf_data, str(hf_dir / "config.json"))
    config = config_from_hf(transformers.GPT2Config.from_dict(hf_data))
    require_memory(hf_import_bytes(config), f"the model in {hf_dir / 'config.json'}",
                   hint=f"it says n_layer {config.n_layers}, n_embd {config.d_model}, n_positions "
                        f"{config.max_seq_len}, vocab_size {config.vocab_size}")
    headers = read_hf_shapes(hf_dir)
    if headers is not None:  # pytorch_model.bin has no header to read: its tensors are checked once loaded
        check_hf_weight_shapes(headers, config, str(hf_dir))
    model = GPT(config)
    load_into_gpt(model, state_dict_from_hf(read_hf_weights(hf_dir), config))
    tokenizer = load_hf_tokenizer(hf_dir)
    if tokenizer.vocab_size != config.vocab_size:
        raise UserError(f"{hf_dir}: the tokenizer has {tokenizer.vocab_size} tokens but the model's "
                         f"vocab_size is {config.vocab_size}")
    train = _train_config(hf_data, config, tokenizer.name)
    with atomic_folder(out_run_dir, overwrite, what=RUN_FOLDER) as tmp:
        save_run_config(tmp, config, train, tokenizer, resolve_corpus=False, corpus_path=_corpus_path(hf_data))
        save_checkpoint(tmp, model, {}, {"step": 0})  # weights only: there is no optimizer state to resume
    return Path(out_run_dir)
