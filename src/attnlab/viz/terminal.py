"""Attention in a terminal (an SSH session, no browser): one head as a shaded-block heatmap.

Rows are queries, columns are keys; the key labels are written downwards above their column,
one character per line, so a wide Hangul syllable fills its two-cell column exactly.

>>> import numpy as np
>>> print(render_terminal(np.array([[1.0, 0.0], [0.5, 0.5]]), ["a", "b"], legend=False))
  a b
a ██
b ▒▒▒▒

`color=True` draws 256-colour ANSI backgrounds instead of block characters (the CLI passes
`sys.stdout.isatty()`, so a pipe or a file gets plain text).
"""

from __future__ import annotations

import unicodedata
from typing import Any, Sequence

import numpy as np

from attnlab.viz.weights import attention_stack, visible
from attnlab.errors import UserError

SHADES = " ░▒▓█"
CELL = 2  # terminal cells per matrix column: two make a square-ish cell and fit one wide glyph
RESET = "\x1b[0m"


def char_width(ch: str) -> int:
    """Terminal cells a character takes: 2 for wide (Hangul, CJK), 0 for combining marks."""
    if unicodedata.combining(ch):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def text_width(text: str) -> int:
    return sum(char_width(ch) for ch in text)


def fit(text: str, width: int) -> str:
    """Cut `text` to at most `width` cells (ending in … when cut) and pad it to exactly `width`.

    >>> fit("사과를", 5) + "|", fit("apple", 9) + "|"
    ('사과…|', 'apple    |')
    """
    if text_width(text) > width:
        out, used = "", 0
        for ch in text:
            if used + char_width(ch) > width - 1:
                break
            out, used = out + ch, used + char_width(ch)
        text = out + "…"
    return text + " " * (width - text_width(text))


def shade(w: float, vmax: float = 1.0) -> str:
    """The block for a weight: ' ' below 1/8 of vmax, then ░ ▒ ▓ █ (monotonic in w)."""
    level = int(np.clip(np.floor(w / vmax * (len(SHADES) - 1) + 0.5), 0, len(SHADES) - 1))
    return SHADES[level]


def _color_cell(w: float, vmax: float) -> str:
    grey = 232 + int(np.clip(round(w / vmax * 23), 0, 23))  # 232 (black) .. 255 (white)
    return f"\x1b[48;5;{grey}m" + " " * CELL + RESET


def render_terminal(weights: Any, tokens_q: Sequence[str], tokens_k: Sequence[str] | None = None, *,
                    layer: int = 0, head: int = 0, layer_names: Sequence[str] | None = None,
                    color: bool = False, max_label: int = 12, max_tokens: int = 80,
                    vmax: float = 1.0, legend: bool = True) -> str:
    """One head as text: a header of key labels, then one line per query token.

    Long labels are cut to `max_label` cells; only the first `max_tokens` queries and keys
    are drawn (a last line says how many were left out). `vmax` is the weight drawn as █.
    """
    stack = attention_stack(weights, tokens_q, tokens_k, layer_names)
    w = stack.head(layer, head)  # (T, S)
    if vmax <= 0:
        raise UserError(f"vmax must be positive, got {vmax}")
    T, S = w.shape
    rows, cols = min(T, max_tokens), min(S, max_tokens)
    labels_q = [visible(t) for t in stack.tokens_q[:rows]]
    labels_k = [fit(visible(t), max_label).rstrip() for t in stack.tokens_k[:cols]]
    left = min(max_label, max(text_width(t) for t in labels_q))
    lines = []
    # Key labels downwards, one character per header line, each in its CELL-wide column.
    for line_no in range(max(len(list(t)) for t in labels_k)):
        chars = [list(t)[line_no] if line_no < len(t) else " " for t in labels_k]
        lines.append(" " * (left + 1) + "".join(fit(c, CELL) for c in chars).rstrip())
    for i in range(rows):
        cells = [_color_cell(x, vmax) if color else shade(x, vmax) * CELL for x in w[i, :cols]]
        lines.append(fit(labels_q[i], left) + " " + "".join(cells).rstrip())
    if rows < T or cols < S:
        lines.append(f"… showing {rows} of {T} queries and {cols} of {S} keys; use --png or --html for all")
    if legend:
        where = f"{stack.layer_names[layer]}, head {head}: rows attend to columns"
        if color:
            lines.append(f"{where}; darker = less, brighter = more (white = {vmax:g})")
        else:
            steps = [f"{s} ≥{(k - 0.5) / (len(SHADES) - 1) * vmax:.3g}" for k, s in enumerate(SHADES) if k]
            lines.append(f"{where}; " + "  ".join(steps))
    return "\n".join(lines)
