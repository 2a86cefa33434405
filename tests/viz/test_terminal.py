"""attnlab.viz.terminal: attention as shaded text, aligned for wide characters, with no escape
sequence a token could inject."""

import numpy as np

from attnlab.viz import render_terminal
from attnlab.viz.terminal import SHADES, fit, shade, text_width
from attnlab.viz.weights import visible

from viz_helpers import softmax_maps  # noqa: E402


def test_terminal_lines_labels_and_truncation():
    toks = ["The", "animal", "supercalifragilistic", "it"]
    text = render_terminal(softmax_maps(1, 2, 4), toks, head=1, max_label=8)
    lines = text.splitlines()
    header = max(len(visible(t)) if len(t) <= 8 else 8 for t in toks)
    assert len(lines) == header + 4 + 1  # key labels downwards, one row per query, legend
    assert [line.split(" ")[0] for line in lines[header:header + 4]] == ["The", "animal", "superca…", "it"]
    assert "layer 0, head 1" in lines[-1]
    short = render_terminal(softmax_maps(1, 1, 10), list("abcdefghij"), max_tokens=3).splitlines()
    assert short[-2].startswith("… showing 3 of 10 queries and 3 of 10 keys")


def test_terminal_shading_is_monotonic_in_weight():
    ramp = np.linspace(0, 1, 21)
    levels = [SHADES.index(shade(x)) for x in ramp]
    assert levels == sorted(levels) and levels[0] == 0 and levels[-1] == len(SHADES) - 1
    row = render_terminal(ramp[None, :], ["q"], [f"k{i}" for i in range(21)], legend=False).splitlines()[-1]
    drawn = row[2::2]  # after "q ", every matrix column is two equal characters
    assert [SHADES.index(c) for c in drawn] == sorted(SHADES.index(c) for c in drawn)


def test_terminal_wide_hangul_keeps_columns_aligned():
    assert text_width("사과를") == 6 and fit("사과를", 5) == "사과…"  # a wide glyph never half-cut
    assert text_width(fit("사과를", 5)) == 5 and text_width(fit("사과를", 4)) == 4
    toks = ["a", "나는", "사과를먹었다아주많이"]
    lines = render_terminal(np.ones((3, 3)), toks, max_label=6, legend=False).splitlines()
    rows = lines[-3:]
    assert len({text_width(r) for r in rows}) == 1  # every row ends at the same terminal column
    assert all(r.endswith("█" * 6) for r in rows)


def test_terminal_colour_and_no_escape_injection():
    toks = ["\x1b[31mred", "b"]
    plain = render_terminal(softmax_maps(1, 1, 2), toks)
    assert "\x1b" not in plain and "\\x1b[31mred"[:6] in plain
    coloured = render_terminal(softmax_maps(1, 1, 2), toks, color=True)
    assert "\x1b[48;5;" in coloured and coloured.count("\x1b[0m") == 4
