"""Head ablation: how much worse does the model get without one head?

Each head's output before W_O is the named point `blocks.{l}.attn.z`, (B, T, H, D). Ablating
head h of layer l replaces `z[:, :, h]` while the model runs, through `attnlab.intervene`:

- zero:  by 0 (the head says nothing; W_O's bias still adds its constant);
- mean:  by its mean over every position of every sequence in the batch (the head says what it
         says on average, so only what it says *about this text* is removed).

The answer is the loss change against the unablated model: positive means the head helped.

    >>> import torch, attnlab
    >>> model = attnlab.GPT(attnlab.GPTConfig(vocab_size=5, max_seq_len=8, d_model=8, n_heads=2, n_layers=1))
    >>> x, y = torch.tensor([[1, 2, 3]]), torch.tensor([[2, 3, 4]])
    >>> result = ablate_heads(model, x, y)
    >>> [(r["layer"], r["head"]) for r in result["heads"]]
    [(0, 0), (0, 1)]
    >>> ablated_loss(model, x, y, []) == result["baseline_loss"]        # nothing ablated: the same loss
    True
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

import torch
import torch.nn as nn
import torch.nn.functional as F
from attnlab.errors import UserError

MODES = ("zero", "mean")


def _z_replacement(heads_by_layer: dict[int, list[int]], mode: str) -> Callable[[torch.Tensor, str], torch.Tensor]:
    """fn(z, name) for `intervene`: replaces the chosen heads of the layer named in `name`."""
    if mode not in MODES:
        raise UserError(f"unknown ablation {mode!r}; choose one of {', '.join(MODES)}")

    def replace(z: torch.Tensor, name: str) -> torch.Tensor:  # z (B, T, H, D)
        for h in heads_by_layer.get(int(name.split(".")[1]), []):
            z[:, :, h] = 0.0 if mode == "zero" else z[:, :, h].mean(dim=(0, 1))
        return z

    return replace


def _check_heads(model: nn.Module, heads: Iterable[tuple[int, int]]) -> dict[int, list[int]]:
    L, H = len(model.blocks), model.blocks[0].attn.n_heads
    by_layer: dict[int, list[int]] = {}
    for layer, head in heads:
        if not (0 <= layer < L and 0 <= head < H):
            raise UserError(f"head {layer}.{head} does not exist: the model has layers 0..{L - 1}, heads 0..{H - 1}")
        by_layer.setdefault(layer, []).append(head)
    return by_layer


@torch.no_grad()
def ablated_forward(model: nn.Module, idx: torch.Tensor, targets: torch.Tensor | None,
                    heads: Iterable[tuple[int, int]], mode: str = "zero") -> tuple[torch.Tensor, torch.Tensor | None]:
    """The model's own (logits (B, T, V), loss) with the (layer, head) pairs in `heads` ablated
    together. Every layer's z passes through the intervention, even when `heads` is empty."""
    from attnlab.look.hooks import intervene

    replace = _z_replacement(_check_heads(model, heads), mode)
    was_training = model.training
    model.eval()
    try:
        with intervene(model, {"blocks.*.attn.z": replace}):
            return model(idx, targets)
    finally:
        model.train(was_training)


def ablated_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, heads: Iterable[tuple[int, int]],
                 mode: str = "zero") -> float:
    """The model's mean next-token loss over x (B, T) -> y (B, T) with `heads` ablated together."""
    return ablated_forward(model, x, y, heads, mode)[1].item()


def token_losses(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of every position: logits (B, T, V), targets (B, T) -> (B, T)."""
    return F.cross_entropy(logits.float().transpose(1, 2), targets, reduction="none")


def ablate_heads(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                 together: list[tuple[int, int]] | None = None) -> dict:
    """Every head zeroed and mean-replaced in turn, and `together` ablated as one set (zero).

    Returns the JSON of `attnlab ablate`: {"baseline_loss", "heads": [{"layer", "head", "zero",
    "mean"}], and with `together` "set": {"heads": [[l, h], ...], "loss"}}, the changes as loss
    differences. The baseline runs with nothing attached (the model as it is).
    """
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            _, loss = model(x, y)
        baseline = loss.item()
        rows = [{"layer": layer, "head": head,
                 **{mode: ablated_loss(model, x, y, [(layer, head)], mode) - baseline for mode in MODES}}
                for layer in range(len(model.blocks)) for head in range(model.blocks[layer].attn.n_heads)]
    finally:
        model.train(was_training)
    result = {"baseline_loss": baseline, "heads": rows}
    if together is not None:
        result["set"] = {"heads": [[l, h] for l, h in together], "loss": ablated_loss(model, x, y, together)}
    return result


def split_batches(run_dir: str | Path, tokenizer, split: str, batches: int,
                  seed: int = 0, corpus: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """`batches` batches of a run's own train or val split, drawn as `estimate_loss` draws them
    (a generator seeded with `seed`), stacked into one: x, y (batches · batch_size, block_size).
    The text is the run's corpus (`run_corpus`), or `corpus` when given."""
    from attnlab.runs.checkpoint import read_run_config
    from attnlab.train.data import get_batch, load_corpus
    from attnlab.train.gpt import encode_corpus

    if split not in ("train", "val"):
        raise UserError(f"unknown split {split!r}; choose train or val")
    if batches < 1:
        raise UserError(f"batches must be at least 1, got {batches}")
    _, cfg, _ = read_run_config(run_dir)
    text = load_corpus(corpus if corpus is not None else run_corpus(run_dir, cfg.corpus))
    train_data, val_data = encode_corpus(text, tokenizer, cfg)
    data = val_data if split == "val" else train_data
    generator = torch.Generator().manual_seed(seed)
    pairs = [get_batch(data, cfg.batch_size, cfg.block_size, generator) for _ in range(batches)]
    return torch.cat([x for x, _ in pairs]), torch.cat([y for _, y in pairs])  # (N·B, T) each


def run_corpus(run_dir: str | Path, corpus: str) -> str:
    """The corpus of a run, as the same text from any folder: a built-in name (as `load_corpus`
    reads it first), else the absolute "corpus_path" config.json stored when the run was made, or
    an absolute `corpus`. A relative path with no "corpus_path" (a run made before attnlab stored
    it) was relative to a folder the run does not record, so it is refused rather than read
    against the current folder; so are stdin and a missing file."""
    from attnlab.runs.checkpoint import read_config
    from attnlab.train.data import corpus_names

    where = Path(run_dir) / "config.json"
    stored = read_config(run_dir, "gpt").get("corpus_path")
    if corpus in corpus_names():
        return corpus
    if corpus == "-":
        raise UserError(f"{where}: the run was trained on stdin (--corpus -), which cannot be read again; "
                         f"pass --corpus FILE with the same text, or use --text")
    path = stored if isinstance(stored, str) and Path(stored).is_absolute() else corpus
    if not Path(path).is_absolute():
        raise UserError(f"{where} names its corpus by the relative path {corpus!r}, and the folder it was "
                         f"relative to is not recorded (a run made before attnlab stored the full path); pass "
                         f"--corpus FILE with the text it was trained on")
    if not Path(path).exists():
        raise UserError(f"{where} names the corpus {path}, which is missing; pass --corpus FILE with the text "
                         f"it was trained on")
    return path
