"""Attention as a picture (matplotlib, no pyplot, no display needed): one head as a heatmap
with the tokens on both axes, or every layer × head as a grid of small heatmaps.

Rows are queries (the token that looks), columns are keys (the tokens it looks at), so each
row sums to 1. Hangul labels need a font that has Hangul: NanumGothic, shipped inside the
PyPI package `koreanize-matplotlib`, registered by its file path (the package itself is never
imported: it needs distutils, gone since Python 3.12).

    fig = plot_head(maps["blocks.0.attn"], tokens, head=1, path="head.png")
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from matplotlib import font_manager
from matplotlib.figure import Figure

from attnlab.io import atomic_write
from attnlab.viz.weights import attention_stack, visible
from attnlab.errors import UserError

FONT_PACKAGE = "koreanize-matplotlib"
FONT_FILE = "NanumGothic.ttf"
MISSING_FONT = (f"Hangul labels need the font package: pip install {FONT_PACKAGE} "
                f"(or pip install 'attnlab[viz]'); without it they show as empty boxes")
ANNOTATE_MAX_TOKENS = 16  # print the numbers in the cells up to this many rows and columns
LABEL_MAX_TOKENS = 80  # beyond this many tokens, label every n-th one


def hangul_font_path() -> Path | None:
    """The NanumGothic.ttf file inside koreanize-matplotlib, or None when not installed."""
    spec = importlib.util.find_spec("koreanize_matplotlib")  # finds, does not import
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "fonts" / FONT_FILE
        if path.is_file():
            return path
    return None


def needs_hangul(labels: Sequence[str]) -> bool:
    """True when a label holds a Hangul syllable or jamo (which DejaVu Sans lacks)."""
    return any("\u1100" <= ch <= "\u11ff" or "\u3130" <= ch <= "\u318f" or "\uac00" <= ch <= "\ud7a3"
               for label in labels for ch in label)


def font_families(labels: Sequence[str] = (), strict: bool = False) -> list[str]:
    """Font families to draw with: DejaVu Sans, then NanumGothic for the glyphs it lacks.

    Registers NanumGothic with matplotlib's font manager (once). When the labels need Hangul
    and the font is missing: `strict=True` raises a ValueError saying what to install,
    otherwise a warning says it and the text is drawn anyway.
    """
    path = hangul_font_path()
    if path is None:
        if needs_hangul(labels):
            if strict:
                raise UserError(MISSING_FONT)
            warnings.warn(MISSING_FONT, stacklevel=3)
        return ["DejaVu Sans"]
    if not any(f.fname == str(path) for f in font_manager.fontManager.ttflist):
        font_manager.fontManager.addfont(str(path))
    return ["DejaVu Sans", font_manager.FontProperties(fname=str(path)).get_name()]


def figure_format(path: str | os.PathLike) -> str:
    """The format a figure saved at `path` gets, from its suffix (none: png); call it before any
    work to refuse a suffix matplotlib cannot write."""
    fmt = Path(path).suffix.lstrip(".").lower() or "png"
    if fmt not in Figure().canvas.get_supported_filetypes():
        raise UserError(f"cannot save a figure as .{fmt}: use .png, .svg or .pdf")
    return fmt


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = 120) -> Path:
    """Save atomically; the format comes from the suffix (.png, .svg, .pdf)."""
    fmt = figure_format(path)
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight"))


def _tick_every(n: int, max_labels: int = LABEL_MAX_TOKENS) -> int:
    return max(1, -(-n // max_labels))


def _draw_heatmap(ax: Any, w: np.ndarray, tokens_q: list[str], tokens_k: list[str],
                  family: list[str], annotate: bool, labels: bool, vmax: float,
                  max_labels: int = LABEL_MAX_TOKENS) -> Any:
    """Draw one (T, S) matrix on `ax`; returns the image (for a colorbar). With more than
    max_labels tokens, every n-th one is labelled."""
    T, S = w.shape
    image = ax.imshow(w, cmap="Blues", vmin=0.0, vmax=vmax, aspect="auto", interpolation="nearest")
    if labels:
        for set_ticks, n, tokens, rotation in ((ax.set_yticks, T, tokens_q, 0), (ax.set_xticks, S, tokens_k, 90)):
            every = _tick_every(n, max_labels)
            positions = list(range(0, n, every))
            set_ticks(positions, [visible(tokens[i]) for i in positions], fontfamily=family,
                      fontsize=9, rotation=rotation)
        ax.set_xlabel("key (attended to)", fontfamily=family)
        ax.set_ylabel("query (attending)", fontfamily=family)
    else:
        ax.set_xticks([])
        ax.set_yticks([])
    if annotate:
        for i in range(T):
            for j in range(S):
                ax.text(j, i, f"{w[i, j]:.2f}", ha="center", va="center", fontsize=7, fontfamily=family,
                        color="white" if w[i, j] > 0.6 * vmax else "black")
    return image


def plot_head(weights: Any, tokens_q: Sequence[str], tokens_k: Sequence[str] | None = None, *,
              layer: int = 0, head: int = 0, layer_names: Sequence[str] | None = None,
              title: str | None = None, annotate: bool | None = None,
              path: str | os.PathLike | None = None, strict_font: bool = False) -> Figure:
    """One head's (T, S) weights as a heatmap, tokens on both axes.

    `weights`: (T, S), (H, T, S), (L, H, T, S), a capture dict or HF `output_attentions`.
    `annotate=None` prints each weight in its cell when there are at most 16 tokens.
    `path` also saves the figure there (atomically).
    """
    stack = attention_stack(weights, tokens_q, tokens_k, layer_names)
    w = stack.head(layer, head)  # (T, S)
    T, S = w.shape
    family = font_families(stack.tokens_q + stack.tokens_k, strict=strict_font)
    if annotate is None:
        annotate = max(T, S) <= ANNOTATE_MAX_TOKENS
    side = float(np.clip(0.4 * max(T, S), 3.0, 24.0))  # inches; cells stay readable
    fig = Figure(figsize=(side + 2.0, side * T / max(T, S) + 1.5), layout="constrained")
    ax = fig.add_subplot()
    image = _draw_heatmap(ax, w, stack.tokens_q, stack.tokens_k, family, annotate, labels=True, vmax=1.0)
    fig.colorbar(image, ax=ax, shrink=0.8, label="weight")
    ax.set_title(title or f"{stack.layer_names[layer]}, head {head}", fontfamily=family)
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_grid(weights: Any, tokens_q: Sequence[str], tokens_k: Sequence[str] | None = None, *,
              layer_names: Sequence[str] | None = None, title: str | None = None,
              labels: bool | None = None, path: str | os.PathLike | None = None,
              strict_font: bool = False) -> Figure:
    """Every layer × head as a grid of heatmaps: one row per layer, one column per head.

    The tokens label the outer axes (the first column's rows, the last row's columns); a map
    of many tokens is drawn larger, and labels every n-th token when they would not fit.
    `labels=False` draws the maps bare.
    """
    stack = attention_stack(weights, tokens_q, tokens_k, layer_names)
    L, H, T, S = stack.weights.shape
    family = font_families(stack.tokens_q + stack.tokens_k, strict=strict_font)
    labels = True if labels is None else labels
    cell = float(np.clip(0.16 * max(T, S), 2.6, 5.0)) if labels else 1.8  # inches per small map
    max_labels = int(cell * 72 / 12)  # 9-point labels, 12 points apart
    fig = Figure(figsize=(cell * H + 1.2, cell * L * T / max(T, S) + 0.8), layout="constrained")
    axes = np.asarray(fig.subplots(L, H, squeeze=False))  # (L, H)
    image = None
    for layer in range(L):
        for head in range(H):
            ax = axes[layer, head]
            image = _draw_heatmap(ax, stack.weights[layer, head], stack.tokens_q, stack.tokens_k,
                                  family, annotate=False, labels=labels, vmax=1.0, max_labels=max_labels)
            if labels:  # tokens on the outer edges only
                ax.set_xlabel("")
                ax.set_ylabel("")
                ax.tick_params(labelleft=head == 0, labelbottom=layer == L - 1)
            ax.set_title(f"head {head}", fontsize=9, fontfamily=family)
        axes[layer, 0].set_ylabel(stack.layer_names[layer], fontsize=9, fontfamily=family)
    fig.colorbar(image, ax=axes, shrink=0.6, label="weight")
    if title:
        fig.suptitle(title, fontfamily=family)
    if path is not None:
        save_figure(fig, path)
    return fig
