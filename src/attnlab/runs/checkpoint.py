"""A training run folder: plain data that any tool can read, and nothing that runs code.

    runs/<name>/
      .attnlab             attnlab's marker: this folder is attnlab's (see attnlab.runs.folder)
      .lock                locked by the training run that writes here (one writer at a time)
      .attnlab-files       the manifest: checkpoint folders and temp files, each recorded before it is made
      config.json          {"kind": "gpt", "model": GPTConfig, "train": TrainConfig, "tokenizer": name}
                           (an encoder-decoder run: "kind": "seq2seq", see attnlab.labs.seq2seq.train)
      tokenizer/           the tokenizer (tokenizer.save)
      state.json           the checkpoint in use: {"step": 500, "checkpoint": "checkpoint-000500", ...}
      checkpoint-000500/   one step's checkpoint, complete:
        model.safetensors    the weights (a tied lm_head is stored once, as the token embedding)
        optimizer.pt         AdamW + GradScaler state and the RNG states (torch.load, weights_only)
      metrics.jsonl        one JSON object per logged step or evaluation
      loss.png             the loss curve

A checkpoint is one atomic unit, as in a database: a save writes a new checkpoint folder beside
the old one (each file stamped with its step), then replaces state.json (one atomic rename: the
commit), then deletes the old folder. A process killed at any instant leaves state.json naming
a complete checkpoint; what the killed save left half-written is removed at the next start (a
checkpoint folder's name is recorded in the run's manifest before the folder is made, so it is
provably attnlab's, see attnlab.runs.folder).
Loading checks that the stamps agree with state.json.

Runs written before checkpoint folders existed (model.safetensors and optimizer.pt beside
state.json) and runs made by `import-hf` (weights only) still load.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import torch

from attnlab.config import GPTConfig, TrainConfig
from attnlab.io import (load_json, load_tensors, load_torch, new_temp, save_json, save_tensors, save_torch,
                        write_failure)
from attnlab.model.memory import gpt_memory_bytes, gpt_parameter_count, require_memory
from attnlab.model.gpt import GPT
from attnlab.errors import UserError
from attnlab.tokenizers import load_tokenizer
from attnlab.runs.folder import STATE, WEIGHTS, committed_checkpoint_name, owned_names, remove_owned

CONFIG = "config.json"
OPTIMIZER = "optimizer.pt"
TOKENIZER_DIR = "tokenizer"


def save_run_config(run_dir: str | os.PathLike, model_config: GPTConfig, train_config: TrainConfig,
                    tokenizer, resolve_corpus: bool = True, corpus_path: str | None = None) -> None:
    """config.json and tokenizer/: written once, when a run starts. A corpus that is a file or a
    folder is also stored as an absolute path, "corpus_path", resolved now (when the run is made),
    so that `ablate --split` reads the same text from any folder later. A run made from another
    run's config (import-hf) passes `resolve_corpus=False` and that run's `corpus_path`, if any:
    its relative path meant another folder."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    tokenizer.save(run_dir / TOKENIZER_DIR)
    data = {"kind": "gpt", "model": model_config.to_dict(), "train": train_config.to_dict(),
            "tokenizer": tokenizer.name}
    corpus = Path(train_config.corpus)
    if resolve_corpus and train_config.corpus != "-" and corpus.exists():
        corpus_path = str(corpus.resolve())
    if corpus_path is not None:
        data["corpus_path"] = corpus_path
    save_json(run_dir / CONFIG, data)


def read_config(run_dir: str | os.PathLike, kind: str) -> dict[str, Any]:
    """config.json of a run of `kind` ("gpt" or "seq2seq"), as a dict; a missing or damaged file,
    or a run of another kind, is a one-line ValueError."""
    path = Path(run_dir) / CONFIG
    data = load_json(path)
    if not isinstance(data, dict) or not {"kind", "model"} <= set(data):
        raise UserError(f"{path} is not an attnlab run config")
    if data["kind"] != kind:
        raise UserError(f"{run_dir} holds a {data['kind']!r} run, not a {kind!r} one")
    return data


def read_run_config(run_dir: str | os.PathLike) -> tuple[GPTConfig, TrainConfig, str]:
    """(model config, train config, tokenizer name) of a GPT run; bad files -> ValueError."""
    data = read_config(run_dir, "gpt")
    if not isinstance(data.get("train"), dict) or not isinstance(data["model"], dict):
        raise UserError(f"{Path(run_dir) / CONFIG} is not an attnlab GPT run config")
    return GPTConfig.from_dict(data["model"]), TrainConfig.from_dict(data["train"]), data.get("tokenizer", "")


def model_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The weights to save: a GPT's tied lm_head.weight is the token embedding, so it is left
    out (safetensors refuses shared storage) and re-tied on load."""
    state = model.state_dict()
    if getattr(model.config, "tie_weights", False):
        state.pop("lm_head.weight", None)
    return state


def load_weights(model: torch.nn.Module, path: str | os.PathLike, device: str | torch.device = "cpu") -> None:
    """Load model.safetensors into `model`; missing/extra keys or shapes -> ValueError."""
    tensors = load_tensors(path, device=device)
    expected = model_state_dict(model)
    missing, unexpected = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise UserError(f"{path} does not match the model config (missing: {missing[:3]}, "
                         f"unexpected: {unexpected[:3]})")
    for name, tensor in tensors.items():
        if tensor.shape != expected[name].shape:
            raise UserError(f"{path}: {name} has shape {tuple(tensor.shape)}, "
                             f"the config needs {tuple(expected[name].shape)}")
    model.load_state_dict(tensors, strict=False)  # lm_head.weight stays tied to the embedding


def save_checkpoint(run_dir: str | os.PathLike, model: torch.nn.Module, training_state: dict[str, Any],
                    state: dict[str, Any]) -> Path:
    """Write step state["step"]'s checkpoint folder, commit it in state.json, drop the old one.
    A write that fails (a full disk, a file-size limit) is one UserError; the half-written
    folder is removed and state.json still names the last complete checkpoint."""
    run_dir = Path(run_dir)
    step = state["step"]
    old = committed_checkpoint_name(run_dir)
    old_is_ours = old is not None and old in owned_names(run_dir)  # asked while it is still the committed one
    folder = None
    try:
        folder = new_temp(run_dir, f"checkpoint-{step:06d}-", is_dir=True)  # a fresh name, recorded first
        save_tensors(folder / WEIGHTS, model_state_dict(model), metadata={"format": "pt", "step": str(step)})
        if training_state:
            save_torch(folder / OPTIMIZER, {**training_state, "step": step})
        save_json(run_dir / STATE, {**state, "checkpoint": folder.name})  # the commit: one atomic rename
    except (UserError, OSError) as exc:
        if folder is not None and committed_checkpoint_name(run_dir) != folder.name:
            remove_owned(run_dir, [folder.name])  # the commit did not happen: the new folder is garbage
        kept = _kept_step(run_dir) if old is not None else ""
        cause = exc if isinstance(exc, UserError) else write_failure(folder or run_dir, exc)
        raise UserError(f"{cause}{kept}", code="write_failed") from None
    if old_is_ours and old != folder.name:
        remove_owned(run_dir, [old])
    return folder


def _kept_step(run_dir: Path) -> str:
    """What a failed save leaves, in words: the committed step."""
    try:
        return f"; {run_dir} keeps its checkpoint of step {read_state(run_dir)['step']} (--resume continues from it)"
    except (UserError, OSError):
        return ""


def checkpoint_dir(run_dir: str | os.PathLike) -> Path:
    """Where the weights of the run's checkpoint are: its checkpoint folder, or the run folder
    itself for an older run or an imported model."""
    run_dir = Path(run_dir)
    name = committed_checkpoint_name(run_dir)
    return run_dir if name is None else run_dir / name


def training_state(optimizer: torch.optim.Optimizer, device: torch.device, scaler: torch.amp.GradScaler | None = None,
                   batch_generator: torch.Generator | None = None) -> dict[str, Any]:
    """What an exact resume needs besides the weights: the optimizer (and GradScaler) state, the
    generator that draws the batches, and the RNG states (dropout)."""
    return {
        "optimizer": optimizer.state_dict(),
        "grad_scaler": None if scaler is None else scaler.state_dict(),
        "batch_generator": None if batch_generator is None else batch_generator.get_state(),
        "cpu_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
    }


def restore_training_state(saved: dict[str, Any], optimizer: torch.optim.Optimizer, device: torch.device,
                           scaler: torch.amp.GradScaler | None = None,
                           batch_generator: torch.Generator | None = None) -> None:
    """Put back what training_state saved."""
    optimizer.load_state_dict(saved["optimizer"])
    if scaler is not None:
        scaler.load_state_dict(saved["grad_scaler"])
    if batch_generator is not None:
        batch_generator.set_state(saved["batch_generator"])
    torch.set_rng_state(saved["cpu_rng"])
    if device.type == "cuda" and saved.get("cuda_rng") is not None:
        torch.cuda.set_rng_state(saved["cuda_rng"], device)


def load_checkpoint(run_dir: str | os.PathLike) -> tuple[dict[str, Any], dict[str, Any]]:
    """(state.json, optimizer.pt contents), checked to be one step's; a pickle payload in
    optimizer.pt is refused."""
    run_dir = Path(run_dir)
    state = read_state(run_dir)
    folder = checkpoint_dir(run_dir)
    if not (folder / OPTIMIZER).is_file():
        raise UserError(f"{run_dir} has no optimizer state to resume from (an imported model? train a new run "
                         f"from it instead)")
    with warnings.catch_warnings():  # torch warns about a foreign pickle before refusing it
        warnings.simplefilter("ignore")
        saved = load_torch(folder / OPTIMIZER)
    if not isinstance(saved, dict) or not {"optimizer", "cpu_rng"} <= set(saved):
        raise UserError(f"{folder / OPTIMIZER} holds no training state (optimizer and RNG states) to resume from")
    stamps = {"optimizer.pt": saved.get("step", state["step"]), "model.safetensors": _weights_step(folder)}
    mixed = {name: stamp for name, stamp in stamps.items() if stamp is not None and stamp != state["step"]}
    if mixed:
        found = ", ".join(f"{name} from step {stamp}" for name, stamp in mixed.items())
        raise UserError(f"{run_dir} mixes two checkpoints: state.json says step {state['step']} but {found}; "
                         f"it was changed by hand or by another tool: start a new run (--overwrite)")
    return state, saved


def read_state(run_dir: Path) -> dict[str, Any]:
    """state.json, checked: a step that is a non-negative integer."""
    path = run_dir / STATE
    if not path.is_file():
        raise UserError(f"{run_dir} has no checkpoint yet ({STATE} not found)")
    state = load_json(path)
    step = state.get("step") if isinstance(state, dict) else None
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise UserError(f"{path}: 'step' must be a non-negative integer, got {step!r}")
    return state


def _weights_step(folder: Path) -> int | None:
    """The step stamped into model.safetensors' metadata (None: not stamped, an older run)."""
    from safetensors import safe_open

    try:
        with safe_open(str(folder / WEIGHTS), framework="pt") as f:
            stamp = (f.metadata() or {}).get("step")
    except Exception as exc:  # safetensors raises its own error types for a damaged header
        raise UserError(f"{folder / WEIGHTS} is not a valid safetensors file ({exc})") from None
    return None if stamp is None or not stamp.isdigit() else int(stamp)


def load_model(run_dir: str | os.PathLike, device: str | torch.device = "cpu"):
    """(GPT in eval mode, tokenizer) from a run folder, e.g. `load_model("runs/cpu-shakespeare-char")`."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run folder {run_dir} not found")
    model_config, _, _ = read_run_config(run_dir)
    tokenizer = load_tokenizer(run_dir / TOKENIZER_DIR)
    if tokenizer.vocab_size != model_config.vocab_size:
        raise UserError(f"{run_dir}: the tokenizer has {tokenizer.vocab_size} tokens, "
                         f"the model {model_config.vocab_size}")
    # the model and the loaded weights side by side, before either is allocated
    require_memory(2 * gpt_parameter_count(model_config) * 4 + gpt_memory_bytes(model_config), f"the model of {run_dir}")
    model = GPT(model_config)
    load_committed_weights(model, run_dir)
    return model.to(device).eval(), tokenizer


def load_committed_weights(model: torch.nn.Module, run_dir: Path, device: str | torch.device = "cpu") -> None:
    """The weights state.json points at. A training run may commit a newer checkpoint and delete
    this one while we read: then read state.json again (a reader needs no lock)."""
    for attempt in range(3):
        folder = checkpoint_dir(run_dir)
        try:
            return load_weights(model, folder / WEIGHTS, device)
        except (FileNotFoundError, ValueError):
            if attempt == 2 or folder == checkpoint_dir(run_dir):  # not a save racing us: a real error
                raise
