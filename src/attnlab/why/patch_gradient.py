"""Attribution patching (Nanda 2023): every cell of activation patching at once, from gradients.

Patching one activation a of the running text by the other text's a' changes LD by about

    LD(a') - LD(a) ≈ (a' - a) · ∂LD/∂a          (first order; exact when LD is linear in a)

so one forward and backward of the running text (the corrupt one when denoising) and one
forward of the other give every cell of every table. The cell is then normalised as exact
patching's is: (LD_run + estimate - LD_corrupt) / (LD_clean - LD_corrupt). The dot product
runs over what one cell patches: the C numbers of one position (resid, attn, mlp), a head's
T x D numbers (heads) or D numbers (heads-pos).

    >>> import torch, attnlab
    >>> from attnlab.why.logit_diff import make_pair
    >>> model = attnlab.GPT(attnlab.GPTConfig(vocab_size=8, max_seq_len=8, d_model=8, n_heads=2, n_layers=1)).eval()
    >>> pair = make_pair(model, torch.tensor([[1, 2, 3]]), torch.tensor([[1, 4, 3]]), answer=5, wrong=6)
    >>> table = attribution_tables(model, pair, ["heads"])["heads"]   # L x H
    >>> len(table), len(table[0])
    (1, 2)
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from attnlab.look.hooks import intervene
from attnlab.why.logit_diff import Pair, normalised
from attnlab.why.patch import baseline_lds, check_gpt, point_rows, record_points, runs_for


def cell_sums(point: str, product: torch.Tensor) -> list:
    """(a' - a) * ∂LD/∂a of one point, (1, ...), summed over what one cell patches -> the row."""
    if point == "heads":  # (1, T, H, D) -> (H,)
        return product[0].sum(dim=(0, 2)).tolist()
    if point == "heads-pos":  # (1, T, H, D) -> (H, T)
        return product[0].sum(dim=-1).transpose(0, 1).tolist()
    return product[0].sum(dim=-1).tolist()  # (1, T, C) -> (T,)


def point_gradients(model: nn.Module, pair: Pair, run: torch.Tensor, names: list[str]
                    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(value, ∂LD/∂value) at each named point, from one forward and backward of run (1, T)."""
    kept: dict[str, torch.Tensor] = {}

    def keep(value: torch.Tensor, name: str) -> torch.Tensor:
        kept[name] = value  # the copy `intervene` hands over, part of the graph from here on
        return value

    with torch.enable_grad(), intervene(model, {name: keep for name in names}):
        logits, _ = model(run)
        ld = pair.ld(logits).sum()
        grads = torch.autograd.grad(ld, [kept[name] for name in names])
    return {n: kept[n].detach() for n in names}, dict(zip(names, grads))


def attribution_tables(model: nn.Module, pair: Pair, points: list[str], direction: str = "denoising") -> dict:
    """Like `patch.patch_tables` (same points, rows and normalisation), estimated from gradients."""
    check_gpt(model, "attribution patching")
    ld_clean, ld_corrupt = baseline_lds(model, pair)
    run, source = runs_for(pair, direction)
    ld_run = ld_clean if direction == "noising" else ld_corrupt
    T = run.shape[1]
    names = {point: [row.name for row in point_rows(model, point, T)] for point in points}
    every = sorted({name for point in points for name in names[point]})
    others = record_points(model, source, every)
    values, grads = point_gradients(model, pair, run, every)
    tables: dict = {"ld_clean": ld_clean, "ld_corrupt": ld_corrupt}
    for point in points:
        rows = []
        for name in names[point]:
            estimate = torch.tensor(cell_sums(point, (others[name] - values[name]) * grads[name]), dtype=torch.float64)
            rows.append(normalised(ld_run + estimate, ld_clean, ld_corrupt).tolist())
        tables[point] = rows
    return tables


def correlation(a: list, b: list) -> float | None:
    """Pearson's r between two tables of the same shape, flattened (None when either is constant)."""
    x = torch.tensor(a, dtype=torch.float64).flatten()
    y = torch.tensor(b, dtype=torch.float64).flatten()
    x, y = x - x.mean(), y - y.mean()
    denom = math.sqrt(float((x * x).sum() * (y * y).sum()))
    return None if denom == 0 else float((x * y).sum()) / denom
