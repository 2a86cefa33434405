"""A picture of the sinusoidal positional-encoding table (seed 002), as a PNG.

Left: the (positions, d_model) table as a heatmap; right: a few dimensions as waves, which
shows why low dimensions tell neighbouring positions apart and high ones tell far ones apart.
"""

from __future__ import annotations

import os

import torch

from attnlab.io import atomic_write


def save_positional_encoding_png(table: torch.Tensor, path: str | os.PathLike, title: str | None = None) -> None:
    """Draw the (positions, d_model) table, written atomically to `path` (a PNG)."""
    from matplotlib.figure import Figure  # no pyplot: no global state, no backend switch

    table = table.detach().cpu()
    T, C = table.shape
    fig = Figure(figsize=(12, 4.5))
    ax_map, ax_wave = fig.subplots(1, 2)
    im = ax_map.imshow(table.T.numpy(), aspect="auto", cmap="RdBu", vmin=-1, vmax=1, origin="lower")
    ax_map.set_xlabel("position")
    ax_map.set_ylabel("dimension (even: sin, odd: cos)")
    ax_map.set_title(title or f"sinusoidal positional encoding ({T} positions, d_model {C})")
    fig.colorbar(im, ax=ax_map)
    for dim in sorted({0, 1, 2 * (C // 8), 2 * (C // 4)}):
        ax_wave.plot(table[:, dim].numpy(), label=f"dim {dim} ({'sin' if dim % 2 == 0 else 'cos'})")
    ax_wave.set_xlabel("position")
    ax_wave.set_title("low dimensions wave fast, high ones slowly")
    ax_wave.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
