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

from typing import Callable, Iterable

import torch
import torch.nn as nn
import torch.nn.functional as F
from attnlab.errors import UserError
from attnlab.look.hooks import intervene

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
