"""A training run folder: plain data that any tool can read, and nothing that runs code.

    runs/<name>/
      config.json        {"kind": "gpt", "model": GPTConfig, "train": TrainConfig, "tokenizer": name}
                         (an encoder-decoder run: "kind": "seq2seq", see attnlab.seq2seq_train)
      tokenizer/         the tokenizer (tokenizer.save)
      model.safetensors  the weights (a tied lm_head is stored once, as the token embedding)
      optimizer.pt       AdamW + GradScaler state and the RNG states (torch.load, weights_only)
      state.json         step, best validation loss, ...
      metrics.jsonl      one JSON object per logged step or evaluation
      loss.png           the loss curve

Every file is written atomically (a temp file, then a rename). state.json is written last,
so the step it names always has its weights and optimizer state on disk.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import torch

from attnlab.config import GPTConfig, TrainConfig
from attnlab.io import atomic_write, load_json, load_tensors, load_torch, save_json, save_tensors, save_torch
from attnlab.model.gpt import GPT

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
OPTIMIZER = "optimizer.pt"
STATE = "state.json"
METRICS = "metrics.jsonl"
LOSS_PNG = "loss.png"
TOKENIZER_DIR = "tokenizer"
RUN_FILES = (CONFIG, WEIGHTS, OPTIMIZER, STATE, METRICS, LOSS_PNG, TOKENIZER_DIR)


def is_run_dir(path: str | os.PathLike) -> bool:
    return (Path(path) / CONFIG).is_file()


def clear_run_dir(run_dir: str | os.PathLike) -> None:
    """Delete a previous run's files (for --overwrite); refuses a folder that is not a run."""
    run_dir = Path(run_dir)
    if not run_dir.exists():
        return
    if not is_run_dir(run_dir):
        raise ValueError(f"{run_dir} exists and is not a run folder (no {CONFIG}); refusing to delete it")
    shutil.rmtree(run_dir)


def save_run_config(run_dir: str | os.PathLike, model_config: GPTConfig, train_config: TrainConfig,
                    tokenizer) -> None:
    """config.json and tokenizer/: written once, when a run starts."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    tokenizer.save(run_dir / TOKENIZER_DIR)
    save_json(run_dir / CONFIG, {"kind": "gpt", "model": model_config.to_dict(),
                                 "train": train_config.to_dict(), "tokenizer": tokenizer.name})


def read_run_config(run_dir: str | os.PathLike) -> tuple[GPTConfig, TrainConfig, str]:
    """(model config, train config, tokenizer name) from config.json; bad files -> ValueError."""
    path = Path(run_dir) / CONFIG
    data = load_json(path)
    if not isinstance(data, dict) or data.get("kind") != "gpt" or not {"model", "train"} <= set(data):
        raise ValueError(f"{path} is not an attnlab GPT run config")
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
        raise ValueError(f"{path} does not match the model config (missing: {missing[:3]}, "
                         f"unexpected: {unexpected[:3]})")
    for name, tensor in tensors.items():
        if tensor.shape != expected[name].shape:
            raise ValueError(f"{path}: {name} has shape {tuple(tensor.shape)}, "
                             f"the config needs {tuple(expected[name].shape)}")
    model.load_state_dict(tensors, strict=False)  # lm_head.weight stays tied to the embedding


def save_checkpoint(run_dir: str | os.PathLike, model: torch.nn.Module, training_state: dict[str, Any],
                    state: dict[str, Any]) -> None:
    """Weights, then optimizer/RNG state, then state.json (the step these belong to)."""
    run_dir = Path(run_dir)
    save_tensors(run_dir / WEIGHTS, model_state_dict(model), metadata={"format": "pt"})
    save_torch(run_dir / OPTIMIZER, training_state)
    save_json(run_dir / STATE, state)


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
    """(state.json, optimizer.pt contents); a pickle payload in optimizer.pt is refused."""
    run_dir = Path(run_dir)
    state = load_json(run_dir / STATE)
    if not isinstance(state, dict) or not isinstance(state.get("step"), int):
        raise ValueError(f"{run_dir / STATE} has no step: the run never saved a checkpoint")
    with warnings.catch_warnings():  # torch warns about a foreign pickle before refusing it
        warnings.simplefilter("ignore")
        saved = load_torch(run_dir / OPTIMIZER)
    if not isinstance(saved, dict) or not {"optimizer", "cpu_rng"} <= set(saved):
        raise ValueError(f"{run_dir / OPTIMIZER} holds no training state (optimizer and RNG states) to resume from")
    return state, saved


def load_model(run_dir: str | os.PathLike, device: str | torch.device = "cpu"):
    """(GPT in eval mode, tokenizer) from a run folder, e.g. `load_model("runs/cpu-shakespeare-char")`."""
    from attnlab.tokenizers import load_tokenizer

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run folder {run_dir} not found")
    model_config, _, _ = read_run_config(run_dir)
    tokenizer = load_tokenizer(run_dir / TOKENIZER_DIR)
    if tokenizer.vocab_size != model_config.vocab_size:
        raise ValueError(f"{run_dir}: the tokenizer has {tokenizer.vocab_size} tokens, "
                         f"the model {model_config.vocab_size}")
    model = GPT(model_config)
    load_weights(model, run_dir / WEIGHTS)
    return model.to(device).eval(), tokenizer


class MetricsWriter:
    """metrics.jsonl (+ loss.png redrawn at each evaluation, + TensorBoard if installed)."""

    def __init__(self, run_dir: Path, enabled: bool):
        self.run_dir, self.enabled, self.tensorboard = run_dir, enabled, None
        if enabled and importlib.util.find_spec("tensorboard") is not None:
            from torch.utils.tensorboard import SummaryWriter

            self.tensorboard = SummaryWriter(log_dir=str(run_dir / "tensorboard"))

    def write(self, record: dict[str, Any], plot: bool = False) -> None:
        if not self.enabled:
            return
        with open(self.run_dir / METRICS, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        if self.tensorboard is not None:
            for key, value in record.items():
                if key != "step" and value is not None:
                    self.tensorboard.add_scalar(key, value, record["step"])
        if plot:
            plot_losses(self.run_dir)

    def close(self) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()


def read_metrics(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    path = Path(run_dir) / METRICS
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:  # a line cut short by a crash: skip it
            continue
    return records


def truncate_metrics(run_dir: str | os.PathLike, step: int) -> None:
    """On resume, drop lines logged after the checkpoint (they will be logged again)."""
    path = Path(run_dir) / METRICS
    if path.is_file():
        keep = [json.dumps(m) + "\n" for m in read_metrics(run_dir) if m.get("step", 0) <= step]
        atomic_write(path, lambda tmp: Path(tmp).write_text("".join(keep), encoding="utf-8"))


def plot_losses(run_dir: str | os.PathLike) -> Path | None:
    """Draw loss.png from metrics.jsonl (training loss per step, train/val estimates): the
    cross-entropy for a GPT and the seq2seq token tasks, the MSE for seed 002's regression."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no window
    import matplotlib.pyplot as plt

    metrics = read_metrics(run_dir)
    steps = [m for m in metrics if "loss" in m]
    evals = [m for m in metrics if "val_loss" in m]
    if not steps and not evals:
        return None
    fig, ax = plt.subplots(figsize=(7, 4))
    if steps:
        ax.plot([m["step"] for m in steps], [m["loss"] for m in steps], lw=0.8, alpha=0.5, label="train (batch)")
    if evals:
        ax.plot([m["step"] for m in evals], [m["train_loss"] for m in evals], "o-", label="train (estimate)")
        ax.plot([m["step"] for m in evals], [m["val_loss"] for m in evals], "o-", label="val (estimate)")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = Path(run_dir) / LOSS_PNG
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    plt.close(fig)
    return path
