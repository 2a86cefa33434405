"""In-context loss and the causal check: do the detected heads do the work?

On n random tokens repeated twice (`scores.repeated_tokens`) a model cannot predict the first copy
better than chance, but once it has seen it, it can predict the second copy. The **in-context
loss** compares the two halves, each over its n - 1 predictions that have the half's earlier
tokens in view (the first token of each copy follows a token that says nothing about it):

    ids      a  b  c  d  a  b  c  d          n = 4
    first copy loss:   predicting b, c, d    from a / a b / a b c
    second copy loss:  predicting b, c, d    from a b c d a / ... a b / ... a b c

**Ablating** a head zeroes its output `blocks.{l}.attn.z[:, :, h]` (B, T, H, D) before W_O, through
`attnlab.intervene` (`attnlab.why.ablate`), so that head's contribution to the residual stream is
gone and nothing else changes. `causal_check` ablates the detected heads together, then as many
other heads drawn at random (several draws, the median), and reports the second-copy loss for each.

**Path removal** is finer (`attnlab.why.paths`): every layer-0 head's output is removed from the
layer-1 heads' **key** inputs only (their queries and values still see it), then from their
**query** inputs only, then from their **value** inputs only. An induction head finds the earlier
copy by matching its query (the current token) against keys that carry each token's
predecessor, written there by a previous-token head: K-composition (Elhage et al. 2021). If that
is how the model works, removing the key path alone undoes the induction; the other two barely
matter.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F
from attnlab.errors import UserError
from attnlab.why.ablate import ablated_forward
from attnlab.why.paths import INPUTS, Path, removed_forward

Head = tuple[int, int]  # (layer, head)


def copy_losses(model: nn.Module, ids: torch.Tensor, n: int, heads: list[Head] = (),
                start: int = 0) -> tuple[float, float]:
    """(first-copy loss, second-copy loss) of `model` on ids (B, start + 2n), mean cross-entropy,
    with the (layer, head) pairs in `heads` zeroed together (`attnlab.why.ablate`)."""
    if ids.shape[1] < start + 2 * n:
        raise UserError(f"ids of length {ids.shape[1]} hold no {start} + 2 x {n} token sequence")
    logits, _ = ablated_forward(model, ids, None, heads, mode="zero")  # (B, T, V)
    return losses_by_copy(logits, ids, n, start)


def losses_by_copy(logits: torch.Tensor, ids: torch.Tensor, n: int, start: int = 0) -> tuple[float, float]:
    """The two copies' mean cross-entropy from logits (B, T, V) of ids (B, T)."""
    losses = F.cross_entropy(logits[:, :-1].transpose(1, 2).float(), ids[:, 1:], reduction="none")  # (B, T-1)
    # losses[:, t] predicts token t + 1: the first copy's targets are start+1 .. start+n-1
    first = losses[:, start : start + n - 1]  # (B, n - 1)
    second = losses[:, start + n : start + 2 * n - 1]  # (B, n - 1)
    return first.mean().item(), second.mean().item()


@dataclass
class CausalCheck:
    """Second-copy losses: the intact model, the detected heads ablated, random other heads ablated."""

    baseline: float
    detected: list[Head]
    ablate_detected: float
    random_sets: list[list[Head]] = field(default_factory=list)
    random_losses: list[float] = field(default_factory=list)
    others_alone: dict[Head, float] = field(default_factory=dict)  # each other head zeroed on its own
    path_removal: dict[str, float] | None = None  # "key", "query", "value" -> second-copy loss (2+ layers)

    @property
    def ablate_random(self) -> float:
        """The median over the random draws (the baseline when there was nothing to draw)."""
        return statistics.median(self.random_losses) if self.random_losses else self.baseline


def causal_check(model: nn.Module, ids: torch.Tensor, n: int, detected: list[Head], n_heads: int,
                 n_layers: int, draws: int = 5, seed: int = 0) -> CausalCheck:
    """Ablate `detected`, then `draws` times as many of the other heads chosen at random, then
    each other head on its own (which of them the second copy needs, if any).

    Each random draw takes len(detected) heads (or every other head, if there are fewer) uniformly
    without replacement from the heads not in `detected`, with a generator seeded by `seed`.
    """
    baseline = copy_losses(model, ids, n)[1]
    check = CausalCheck(baseline, list(detected), copy_losses(model, ids, n, detected)[1])
    others = [(l, h) for l in range(n_layers) for h in range(n_heads) if (l, h) not in set(detected)]
    k = min(len(detected), len(others))
    generator = torch.Generator().manual_seed(seed)
    for _ in range(draws if k else 0):
        pick = sorted(others[i] for i in torch.randperm(len(others), generator=generator)[:k].tolist())
        check.random_sets.append(pick)
        check.random_losses.append(copy_losses(model, ids, n, pick)[1])
    check.others_alone = {head: copy_losses(model, ids, n, [head])[1] for head in others}
    if n_layers >= 2:
        check.path_removal = path_removal(model, ids, n, n_heads)
    return check


PATH_REMOVAL = "zero"  # how a path is removed: the senders' output set to 0 on that path


@torch.no_grad()
def path_removal(model: nn.Module, ids: torch.Tensor, n: int, n_heads: int, mode: str = PATH_REMOVAL
                 ) -> dict[str, float]:
    """{"key", "query", "value"}: the second-copy loss with every layer-0 head's output removed
    from every layer-1 head's key (query, value) input only."""
    layer0, layer1 = [(0, h) for h in range(n_heads)], [(1, h) for h in range(n_heads)]
    return {word: losses_by_copy(removed_forward(model, ids, Path(layer0, layer1, kind), mode), ids, n)[1]
            for kind, word in INPUTS.items()}
