"""Head scores: which heads look one token back, at the earlier copy of their token, or at the
token that followed it (an induction head)?

Feed a model n random tokens repeated twice (`repeated_tokens`), so the sequence is
`a b c d a b c d` (n = 4), and read each head's (T, S) attention weights:

    previous-token score   mean over queries t >= 1 of  w[t, t - 1]
    duplicate-token score  mean over the second copy  of  w[t, t - n]      (the earlier copy of t's token)
    induction score        mean over the second copy  of  w[t, t - n + 1]  (the token that came after it)

"The second copy" is the n queries t = n .. 2n - 1 (shifted by one when a BOS token leads). Every
score is also averaged over the batch, so each lies in [0, 1] and is the share of the head's
attention that goes where the pattern says; 1.0 is a head that does nothing else.

These are TransformerLens's head-detector patterns (`previous_token_head`, `duplicate_token_head`,
`induction_head`) with its "mul" measure, averaged differently: TransformerLens divides the weight
on the pattern by the weight of every query row (2n rows), also the rows where the pattern has
nothing (the first copy for induction and duplicate, the first token for previous-token), so a
perfect induction head scores about 1/2 there; here only the rows that have a target count, so it
scores 1.0. The tokens of one copy are distinct (drawn without replacement), which makes
TransformerLens's token-equality patterns and the positions above the same thing.

A worked example: uniform causal attention (row t spreads 1/(t+1) over keys 0..t), n = 2:
>>> w = torch.tril(torch.ones(4, 4)) / torch.arange(1, 5).unsqueeze(1)   # (T, S)
>>> s = head_scores(w[None, None], n=2)                                   # (B=1, H=1, T, S)
>>> round(s["previous"].item(), 4), round(s["induction"].item(), 4)      # (1/2+1/3+1/4)/3, (1/3+1/4)/2
(0.3611, 0.2917)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
from attnlab.errors import UserError
from attnlab.look.capture import capture_attention

SCORES = ("previous", "induction", "duplicate")


def repeated_tokens(n: int, batch: int, vocab_size: int, generator: torch.Generator,
                    bos: int | None = None) -> torch.Tensor:
    """(B, 2n) ids, or (B, 2n + 1) with `bos` first: n distinct random tokens, then the same n again.

    >>> repeated_tokens(3, 1, 10, torch.Generator().manual_seed(0)).tolist()
    [[4, 1, 7, 4, 1, 7]]
    """
    if n < 2:
        raise UserError(f"the repeated sequence needs n >= 2 tokens, got {n}")
    if n > vocab_size:
        raise UserError(f"n ({n}) distinct tokens need a vocabulary of at least n, not {vocab_size}")
    first = torch.stack([torch.randperm(vocab_size, generator=generator)[:n] for _ in range(batch)])  # (B, n)
    ids = torch.cat([first, first], dim=1)  # (B, 2n)
    if bos is not None:
        ids = torch.cat([torch.full((batch, 1), bos, dtype=ids.dtype), ids], dim=1)  # (B, 2n + 1)
    return ids


def head_scores(weights: torch.Tensor, n: int, start: int = 0) -> dict[str, torch.Tensor]:
    """Scores of every head of one layer: weights (B, H, T, S) -> {score name: (H,)}.

    The first copy occupies positions start .. start + n - 1 (start = 1 after a BOS token), the
    second copy the next n; T = S >= start + 2n. Queries after the second copy are ignored.
    """
    if weights.dim() != 4:
        raise UserError(f"expected (B, H, T, S) attention weights, got shape {tuple(weights.shape)}")
    T, S = weights.shape[-2:]
    if T != S or T < start + 2 * n:
        raise UserError(f"weights of shape {tuple(weights.shape)} do not hold a sequence of "
                         f"{start} + 2 x {n} tokens attending to itself")
    w = weights.float().mean(dim=0)  # (H, T, S)
    every = torch.arange(1, start + 2 * n)  # queries that have a previous token
    second = torch.arange(start + n, start + 2 * n)  # queries of the second copy
    return {
        "previous": w[:, every, every - 1].mean(dim=-1),  # (H,)
        "induction": w[:, second, second - n + 1].mean(dim=-1),  # (H,)
        "duplicate": w[:, second, second - n].mean(dim=-1),  # (H,)
    }


@dataclass
class HeadScores:
    """Every head's three scores, each an (L, H) tensor (layer, head)."""

    previous: torch.Tensor
    induction: torch.Tensor
    duplicate: torch.Tensor

    def rows(self) -> list[dict[str, float | int]]:
        """[{"layer", "head", "previous", "induction", "duplicate"}, ...] in layer, head order."""
        L, H = self.previous.shape
        return [{"layer": layer, "head": head, **{name: round(getattr(self, name)[layer, head].item(), 4)
                                                  for name in SCORES}}
                for layer in range(L) for head in range(H)]

    def best(self, name: str, layer: int | None = None) -> tuple[int, int, float]:
        """(layer, head, score) of the head with the highest `name` score (in `layer` if given)."""
        table = getattr(self, name)  # (L, H)
        layers = range(table.shape[0]) if layer is None else [layer]
        return max(((l, h, table[l, h].item()) for l in layers for h in range(table.shape[1])),
                   key=lambda r: r[2])


def score_maps(maps: dict[str, torch.Tensor], n: int, start: int = 0) -> HeadScores:
    """HeadScores from captured attention, one (B, H, T, S) map per layer in model order."""
    per_layer = [head_scores(w, n, start) for w in maps.values()]
    return HeadScores(*(torch.stack([s[name] for s in per_layer]) for name in SCORES))  # (L, H) each


@torch.no_grad()
def detect_heads(model: nn.Module, n: int, batch: int = 16, seed: int = 0, bos: int | None = None,
                 vocab_size: int | None = None) -> HeadScores:
    """Run `model` (a GPT, own or imported) on `batch` repeated random sequences and score every head.

    The tokens come from a generator seeded with `seed`, so two calls (two training steps) see the
    same sequences. `vocab_size` limits the random tokens (default: the model's vocabulary).
    """
    vocab = model.config.vocab_size if vocab_size is None else vocab_size
    ids = repeated_tokens(n, batch, vocab, torch.Generator().manual_seed(seed), bos)  # (B, T)
    device = next(model.parameters()).device
    with capture_attention(model) as maps:
        model(ids.to(device))
    return score_maps(maps, n, start=0 if bos is None else 1)
