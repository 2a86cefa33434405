"""Activation patching: which activations carry the answer from the clean text to the logits?

Run one text, put one activation of the other text's run in its place, and read the logit
difference LD (logit_diff.py) at the pair's position:

    denoising (default, as TransformerLens): run the corrupt text, patch in a clean activation
    noising:                                 run the clean text, patch in a corrupt activation
    each cell = (LD_patched - LD_corrupt) / (LD_clean - LD_corrupt)

Denoising asks "is this activation enough to bring the clean answer back?" (1: fully, 0: not
at all); noising asks "does the clean run need it?" (a cell near 0 means breaking it alone
breaks the answer). The points, each a table whose rows are layers:

    resid      the residual stream entering each block and leaving the last: `embed`,
               `blocks.{l}.out`                                   (L + 1) x T
    attn       each block's attention output, `blocks.{l}.attn.out`      L x T
    mlp        each feed-forward output, `blocks.{l}.ffwd.out`           L x T
    heads      each head's `blocks.{l}.attn.z` at every position at once L x H
    heads-pos  each head at each position                                L x H x T

Each cell is a real forward of the model with `attnlab.intervene` at the named point; the cells
of one row run together as one batch (row b of the batch patches cell b). A cell whose patch
would put in the value the run already has (before the texts' first difference, a causal model
computes the same numbers for both) is the run's own LD, without a forward.

    >>> import torch, attnlab
    >>> from attnlab.why.logit_diff import make_pair
    >>> model = attnlab.GPT(attnlab.GPTConfig(vocab_size=8, max_seq_len=8, d_model=8, n_heads=2, n_layers=1)).eval()
    >>> pair = make_pair(model, torch.tensor([[1, 2, 3]]), torch.tensor([[1, 4, 3]]), answer=5, wrong=6)
    >>> tables = patch_tables(model, pair, ["resid"])
    >>> len(tables["resid"]), len(tables["resid"][0])               # (L + 1) x T
    (2, 3)
    >>> round(tables["resid"][1][2], 4)                              # the last stream at the read position: all of it
    1.0
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn as nn

from attnlab.errors import UserError
from attnlab.look.hooks import intervene, record
from attnlab.model.gpt import is_gpt
from attnlab.why.logit_diff import Pair, normalised

POINTS = ("resid", "attn", "mlp", "heads", "heads-pos")
DIRECTIONS = ("denoising", "noising")
CHUNK = 64  # at most this many patched copies in one forward


@dataclass
class Row:
    """One row of a table: the point it patches and its cells, each an index into one sequence's
    value there (the value without its batch dimension)."""

    name: str
    cells: list[tuple]


def point_rows(model: nn.Module, point: str, T: int) -> list[Row]:
    """The rows of the table `point` for a T-token text."""
    L = len(model.blocks)
    positions = [(t,) for t in range(T)]  # value (T, C): one position's vector
    if point == "resid":
        return [Row(name, positions) for name in ["embed", *[f"blocks.{l}.out" for l in range(L)]]]
    if point == "attn":
        return [Row(f"blocks.{l}.attn.out", positions) for l in range(L)]
    if point == "mlp":
        if any(block.ffwd is None for block in model.blocks):
            raise UserError("the point mlp needs feed-forward layers; this model is attention-only (ffn=False)")
        return [Row(f"blocks.{l}.ffwd.out", positions) for l in range(L)]
    H = model.blocks[0].attn.n_heads
    if point == "heads":  # z (T, H, D): head h at every position
        return [Row(f"blocks.{l}.attn.z", [(slice(None), h) for h in range(H)]) for l in range(L)]
    if point == "heads-pos":  # z (T, H, D): head h at position t; cells ordered head by head
        return [Row(f"blocks.{l}.attn.z", [(t, h) for h in range(H) for t in range(T)]) for l in range(L)]
    raise UserError(f"unknown point {point!r}; choose from {', '.join(POINTS)}")


def check_gpt(model: nn.Module, what: str) -> None:
    if not is_gpt(model):
        raise UserError(f"{what} needs a GPT with blocks, ln_f and lm_head (a next-token model); "
                        f"{type(model).__name__} is not one")


def runs_for(pair: Pair, direction: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(the text that runs, the text whose activations are patched in) for `direction`."""
    if direction not in DIRECTIONS:
        raise UserError(f"unknown direction {direction!r}; choose from {', '.join(DIRECTIONS)}")
    return (pair.corrupt, pair.clean) if direction == "denoising" else (pair.clean, pair.corrupt)


def _put_cells(source: torch.Tensor, cells: list[tuple]) -> Callable[[torch.Tensor, str], torch.Tensor]:
    """fn(value, name) for `intervene`: batch row b gets `source`'s value at cells[b]."""
    def put(value: torch.Tensor, name: str) -> torch.Tensor:  # value (B, ...), source (1, ...)
        for b, cell in enumerate(cells):
            value[(b, *cell)] = source[(0, *cell)]
        return value

    return put


@torch.no_grad()
def baseline_lds(model: nn.Module, pair: Pair) -> tuple[float, float]:
    """(LD_clean, LD_corrupt), the model as it is; equal LDs cannot be normalised (a UserError)."""
    ld_clean = pair.ld(model(pair.clean)[0]).item()
    ld_corrupt = pair.ld(model(pair.corrupt)[0]).item()
    if abs(ld_clean - ld_corrupt) < 1e-6:
        raise UserError(f"the logit difference is the same on both texts ({ld_clean:.4g}): there is no gap for a "
                        f"patch to close; pick texts the model answers differently, or other --answer/--wrong")
    return ld_clean, ld_corrupt


@torch.no_grad()
def patch_row(model: nn.Module, pair: Pair, row: Row, source: torch.Tensor, own: torch.Tensor, run: torch.Tensor,
              ld_run: float, ld_clean: float, ld_corrupt: float) -> list[float]:
    """The normalised LD of each cell of `row`: `run` (1, T) with that cell of `source`'s activation
    (1, ...) patched in, CHUNK cells per forward. A cell where `source` holds what the run has
    there anyway (`own`; in a causal model, every position before the texts' first difference)
    would run the model unchanged: it is the run's own LD `ld_run`, without a forward."""
    unchanged = normalised(torch.tensor(ld_run), ld_clean, ld_corrupt).item()
    values = [unchanged] * len(row.cells)
    todo = [i for i, cell in enumerate(row.cells) if not torch.equal(source[(0, *cell)], own[(0, *cell)])]
    for start in range(0, len(todo), CHUNK):
        chunk = todo[start:start + CHUNK]
        with intervene(model, {row.name: _put_cells(source, [row.cells[i] for i in chunk])}):
            logits, _ = model(run.expand(len(chunk), -1))  # (cells, T, V)
        for i, v in zip(chunk, normalised(pair.ld(logits), ld_clean, ld_corrupt).tolist()):
            values[i] = v
    return values


def reshape_row(point: str, values: list[float], T: int) -> list:
    """heads-pos rows come as H * T cells, head by head: -> H lists of T."""
    return [values[h * T:(h + 1) * T] for h in range(len(values) // T)] if point == "heads-pos" else values


@torch.no_grad()
def record_points(model: nn.Module, idx: torch.Tensor, names: list[str]) -> dict[str, torch.Tensor]:
    """name -> the value at that point in the model's forward of idx (1, T)."""
    with record(model, *names) as rec:
        model(idx)
    return {name: rec[name] for name in names}


def patch_tables(model: nn.Module, pair: Pair, points: list[str], direction: str = "denoising") -> dict:
    """{point: table} of normalised LDs for each point in `points` (rows are layers), plus
    "ld_clean" and "ld_corrupt". The model must be in eval mode (dropout off)."""
    check_gpt(model, "activation patching")
    ld_clean, ld_corrupt = baseline_lds(model, pair)
    run, source = runs_for(pair, direction)
    ld_run = ld_corrupt if direction == "denoising" else ld_clean
    T = run.shape[1]
    rows = {point: point_rows(model, point, T) for point in points}
    names = sorted({row.name for point in points for row in rows[point]})
    sources, own = record_points(model, source, names), record_points(model, run, names)
    tables: dict = {"ld_clean": ld_clean, "ld_corrupt": ld_corrupt}
    for point in points:
        tables[point] = [reshape_row(point, patch_row(model, pair, row, sources[row.name], own[row.name], run,
                                                      ld_run, ld_clean, ld_corrupt), T)
                         for row in rows[point]]
    return tables
