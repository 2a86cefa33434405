"""A labelled matrix as a picture: the logit lens (layers × positions) and head ablation
(layers × heads). Renderers take numbers and labels, never models.

- `plot_matrix` builds a `matplotlib.figure.Figure` (no pyplot, no backend switch);
- `matrix_html` writes one self-contained page: a table whose cells are coloured inline, the
  number in each cell, every label escaped, no script and no network address.

`center=None` colours from 0 (white) to the largest value (blue), for probabilities; a number
`center` uses a diverging scale around it (red above, blue below), for loss changes.

>>> page = matrix_html([[0.5, 1.0]], ["embed"], ["<a>", "b"], title="p")
>>> "&lt;a&gt;" in page and "<a>" not in page
True
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib.figure import Figure

from attnlab.io import atomic_write
from attnlab.viz.html import CSP, blues_css
from attnlab.viz.png import font_families, save_figure
from attnlab.viz.weights import visible
from attnlab.errors import UserError

ANNOTATE_MAX_CELLS = 400  # print each number in its cell up to this many cells


def _as_matrix(values: Sequence[Sequence[float | None]], rows: Sequence[str], cols: Sequence[str]) -> np.ndarray:
    """(R, C) float array, None as NaN (a cell with no value, drawn blank)."""
    m = np.array([[np.nan if v is None else float(v) for v in row] for row in values], dtype=np.float64)
    if m.ndim != 2 or m.shape != (len(rows), len(cols)):
        raise UserError(f"{len(rows)} row and {len(cols)} column labels for a matrix of shape {m.shape}")
    return m


def _limits(m: np.ndarray, center: float | None, vmax: float | None = None) -> tuple[float, float]:
    finite = m[np.isfinite(m)]
    if center is None:
        return 0.0, float(vmax if vmax is not None else max(finite.max(initial=0.0), 1e-12))
    reach = float(max(np.abs(finite - center).max(initial=0.0), 1e-12))
    return center - reach, center + reach


def plot_matrix(values: Sequence[Sequence[float | None]], rows: Sequence[str], cols: Sequence[str], *,
                title: str = "", label: str = "", center: float | None = None, vmax: float | None = None,
                xlabel: str = "", ylabel: str = "", fmt: str = ".2f",
                path: str | os.PathLike | None = None) -> Figure:
    """A heatmap with labelled rows and columns, each number printed with `fmt` when there is
    room; `vmax` fixes the top of a 0-based scale (1.0 for probabilities). `path` also saves it."""
    return plot_matrices([(values, rows, cols, title)], label=label, center=center, vmax=vmax, xlabel=xlabel,
                         ylabel=ylabel, fmt=fmt, path=path)


def plot_matrices(panels: Sequence[tuple[Sequence[Sequence[float | None]], Sequence[str], Sequence[str], str]], *,
                  title: str = "", label: str = "", center: float | None = None, vmax: float | None = None,
                  xlabel: str = "", ylabel: str = "", fmt: str = ".2f",
                  path: str | os.PathLike | None = None) -> Figure:
    """Several heatmaps (values, row labels, column labels, panel title), stacked top to bottom,
    each on its own scale; `title` goes above them all."""
    matrices = [_as_matrix(values, rows, cols) for values, rows, cols, _ in panels]
    width = max(m.shape[1] for m in matrices)
    heights = [m.shape[0] for m in matrices]
    fig = Figure(figsize=(float(np.clip(0.45 * width + 2.5, 4, 30)),
                          float(np.clip(sum(0.45 * h + 1.5 for h in heights), 2.5, 30))), layout="constrained")
    axes = fig.subplots(len(panels), 1, squeeze=False, height_ratios=[h + 2 for h in heights])[:, 0]
    for ax, m, (_, rows, cols, panel_title) in zip(axes, matrices, panels):
        _draw_matrix(fig, ax, m, [visible(r) for r in rows], [visible(c) for c in cols], panel_title, label,
                     center, vmax, xlabel, ylabel, fmt)
    if title and len(panels) > 1:
        fig.suptitle(title, fontfamily=font_families([title]))
    if path is not None:
        save_figure(fig, path)
    return fig


def _draw_matrix(fig: Figure, ax, m: np.ndarray, rows: list[str], cols: list[str], title: str, label: str,
                 center: float | None, vmax: float | None, xlabel: str, ylabel: str, fmt: str) -> None:
    R, C = m.shape
    family = font_families(rows + cols + [title])
    vmin, vmax = _limits(m, center, vmax)
    cmap = "Blues" if center is None else "RdBu_r"
    image = ax.imshow(np.ma.masked_invalid(m), cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto",
                      interpolation="nearest")
    ax.set_xticks(range(C), cols, fontfamily=family, fontsize=8, rotation=90)
    ax.set_yticks(range(R), rows, fontfamily=family, fontsize=8)
    ax.set_xlabel(xlabel, fontfamily=family)
    ax.set_ylabel(ylabel, fontfamily=family)
    if R * C <= ANNOTATE_MAX_CELLS:
        for i, j in zip(*np.nonzero(np.isfinite(m))):
            base = 0.0 if center is None else center
            strong = abs(m[i, j] - base) > 0.6 * (vmax - base)  # a dark cell: white text
            ax.text(j, i, format(m[i, j], fmt), ha="center", va="center", fontsize=7,
                    color="white" if strong else "black")
    fig.colorbar(image, ax=ax, shrink=0.8, label=label)
    ax.set_title(title, fontfamily=family)


def _colour(v: float, vmin: float, vmax: float, center: float | None) -> str:
    """Blues (0..vmax, heatmap.js's table), or blue-white-red around `center`, as a CSS rgb()."""
    if not np.isfinite(v):
        return "#f2f2f2"
    if center is None:
        return blues_css(v / vmax)
    t = min(max((v - center) / (vmax - center), -1.0), 1.0)
    if t >= 0:
        return f"rgb(255,{round(255 - 190 * t)},{round(255 - 190 * t)})"
    return f"rgb({round(255 + 190 * t)},{round(255 + 130 * t)},255)"


def matrix_html(values: Sequence[Sequence[float | None]], rows: Sequence[str], cols: Sequence[str], *,
                title: str = "", center: float | None = None, vmax: float | None = None, note: str = "") -> str:
    """The matrix as one HTML page (a coloured table); empty cells (None) stay grey."""
    return matrices_html([(values, rows, cols, "")], title=title, center=center, vmax=vmax, note=note)


def _table_html(values: Sequence[Sequence[float | None]], rows: Sequence[str], cols: Sequence[str],
                center: float | None, vmax: float | None) -> str:
    m = _as_matrix(values, rows, cols)
    vmin, vmax = _limits(m, center, vmax)
    head = "".join(f"<th>{_esc(c)}</th>" for c in cols)
    body = []
    for name, row in zip(rows, m):
        cells = "".join(f'<td style="background:{_colour(v, vmin, vmax, center)}">'
                        f'{"" if not np.isfinite(v) else f"{v:.3f}"}</td>' for v in row)
        body.append(f"<tr><th>{_esc(name)}</th>{cells}</tr>")
    return f"<table><thead><tr><th></th>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _esc(s: object) -> str:
    return html.escape(visible(str(s)), quote=True)


def matrices_html(panels: Sequence[tuple[Sequence[Sequence[float | None]], Sequence[str], Sequence[str], str]], *,
                  title: str = "", center: float | None = None, vmax: float | None = None, note: str = "") -> str:
    """Several matrices (values, row labels, column labels, panel title) as one HTML page."""
    tables = "".join((f"<h2 style=\"font-size:13px\">{_esc(name)}</h2>" if name else "")
                     + _table_html(values, rows, cols, center, vmax) for values, rows, cols, name in panels)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\"><title>{_esc(title)}</title>"
            "<style>body{font-family:system-ui,sans-serif;font-size:12px}table{border-collapse:collapse}"
            "td,th{padding:2px 5px;border:1px solid #ddd;text-align:right;white-space:pre}"
            "thead th{writing-mode:vertical-rl}</style></head><body>"
            f"<h1 style=\"font-size:15px\">{_esc(title)}</h1><p>{html.escape(note)}</p>"
            f"{tables}</body></html>\n")


def save_matrix_html(path: str | os.PathLike, page: str) -> Path:
    """Write a page from `matrix_html` atomically."""
    return atomic_write(path, lambda tmp: Path(tmp).write_text(page, encoding="utf-8"))
