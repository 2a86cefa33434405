"""Seeing inside attention: renderers that take weights and token strings (never models).

- `plot_head`, `plot_grid` (png.py): matplotlib figures, saved atomically with `path=`.
- `render_html`, `save_html`, `attention_html` (html.py): one self-contained offline page.
- `render_terminal` (terminal.py): a shaded-block heatmap as a string.
"""

from attnlab.viz.html import AttentionHTML, attention_html, render_html, save_html
from attnlab.viz.png import plot_grid, plot_head
from attnlab.viz.terminal import render_terminal
from attnlab.viz.weights import AttentionStack, attention_stack

__all__ = ["plot_head", "plot_grid", "render_html", "save_html", "attention_html", "AttentionHTML",
           "render_terminal", "attention_stack", "AttentionStack"]
