"""How good an SAE is: how sparse, how faithful, and what its reconstruction costs the model.

- L0: the mean number of features active (f > 0) per token;
- variance explained: 1 − Σ‖x − x̂‖² / Σ‖x − x̄‖² over the evaluation tokens;
- loss recovered = (CE_ablated − CE_sae) / (CE_ablated − CE_clean): CE_clean is the model's
  next-token loss, CE_sae its loss with the point's value replaced by the SAE's reconstruction
  (through `intervene`, on the real forward), CE_ablated with the point's value set to zero.
  1 means the reconstruction is as good as the real activations, 0 as bad as none;
- dead: features never active on the evaluation tokens; dense: active on more than 10% of them.

>>> loss_recovered(ce_clean=2.0, ce_sae=2.5, ce_ablated=4.0)
0.75
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from attnlab.labs.sae.model import SparseAutoencoder
from attnlab.look.hooks import intervene

DENSE = 0.1  # a feature active on more than this share of tokens is dense


def loss_recovered(ce_clean: float, ce_sae: float, ce_ablated: float) -> float:
    """(CE_ablated − CE_sae) / (CE_ablated − CE_clean); NaN when ablating costs nothing."""
    gap = ce_ablated - ce_clean
    return (ce_ablated - ce_sae) / gap if gap != 0 else math.nan


@torch.no_grad()
def feature_stats(sae: SparseAutoencoder, acts: torch.Tensor, batch: int = 4096) -> dict[str, Any]:
    """L0, variance explained, and the dead and dense counts of `sae` on acts (N, d)."""
    fired = torch.zeros(sae.config.features, dtype=torch.long)
    active, err = 0, 0.0
    mean = acts.mean(dim=0)
    total = (acts - mean).pow(2).sum().item()
    for start in range(0, len(acts), batch):
        x = acts[start:start + batch]
        x_hat, f = sae(x)
        on = f > 0  # (n, F)
        fired += on.sum(dim=0).cpu()
        active += on.sum().item()
        err += (x - x_hat).pow(2).sum().item()
    density = fired.float() / len(acts)
    return {"l0": active / len(acts), "variance_explained": 1.0 - err / total if total > 0 else math.nan,
            "dead": int((fired == 0).sum()), "dense": int((density > DENSE).sum()), "density": density}


@torch.no_grad()
def next_token_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 64) -> float:
    """The mean cross-entropy of the model's next-token guesses on x, y (W, T), one forward per batch."""
    device = next(model.parameters()).device
    total, count = 0.0, 0
    for start in range(0, len(x), batch):
        logits, _ = model(x[start:start + batch].to(device))  # (b, T, V)
        target = y[start:start + batch].to(device)
        logits = logits.flatten(0, 1)  # (b · T, V); half precision summed in float32
        logits = logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits
        total += F.cross_entropy(logits, target.flatten(), reduction="sum").item()
        count += target.numel()
    return total / count


def ce_losses(model: nn.Module, sae: SparseAutoencoder, point: str, x: torch.Tensor,
              y: torch.Tensor) -> dict[str, float]:
    """CE_clean, CE_sae and CE_ablated on x, y (W, T), and the loss recovered."""
    clean = next_token_loss(model, x, y)
    with intervene(model, {point: lambda value, name: sae(value.to(sae.W_dec.dtype))[0].to(value.dtype)}):
        with_sae = next_token_loss(model, x, y)
    with intervene(model, {point: lambda value, name: torch.zeros_like(value)}):
        ablated = next_token_loss(model, x, y)
    return {"ce_clean": clean, "ce_sae": with_sae, "ce_ablated": ablated,
            "loss_recovered": loss_recovered(clean, with_sae, ablated)}
