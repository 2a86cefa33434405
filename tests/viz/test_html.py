"""Attention renderers (PNG, HTML, terminal): they take weights + token strings, never models."""

from __future__ import annotations

import html as html_lib
import re
import warnings
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import attnlab
from attnlab.viz import attention_stack, plot_grid, plot_head, render_html, render_terminal, save_html
from attnlab.viz import png as png_mod
from attnlab.viz.heatmap import matrix_html
from attnlab.viz.html import AttentionHTML, attention_html, blues_css, blues_table, decode_weights, read_payload
from attnlab.viz.terminal import SHADES, fit, shade, text_width
from attnlab.viz.weights import visible

HOSTILE = "<script>alert(1)</script> \"q\" & 'x'"
KOREAN = ["나는", "사과를", "먹었다"]


def softmax_maps(L: int, H: int, T: int, S: int | None = None, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(L, H, T, S or T, generator=g) * 2).softmax(-1)  # (L, H, T, S)


# ---- the shared data form ---------------------------------------------------------------

def test_stack_accepts_every_form():
    w = softmax_maps(2, 3, 4)
    toks = list("abcd")
    assert attention_stack(w[0, 0], toks).weights.shape == (1, 1, 4, 4)
    assert attention_stack(w[0].numpy(), toks).weights.shape == (1, 3, 4, 4)
    captured = {"blocks.0.attn": w[:1], "blocks.1.attn": w[1:]}  # capture_attention: (1, H, T, S)
    stack = attention_stack(captured, toks)
    assert stack.layer_names == ["blocks.0.attn", "blocks.1.attn"]
    np.testing.assert_allclose(stack.weights, w.numpy(), atol=1e-7)
    hf = tuple(w[i:i + 1] for i in range(2))  # Hugging Face output_attentions
    assert attention_stack(hf, toks).layer_names == ["layer 0", "layer 1"]
    cross = attention_stack(softmax_maps(1, 2, 3, 5), list("abc"), list("vwxyz"))
    assert cross.weights.shape == (1, 2, 3, 5) and cross.tokens_k == list("vwxyz")


@pytest.mark.parametrize("weights, tokens, message", [
    (softmax_maps(1, 1, 3), list("ab"), "2 query tokens for weights with 3 rows"),
    (softmax_maps(1, 1, 3) * 5, list("abc"), "lie in [0, 1]"),
    (torch.full((2, 2), float("nan")), list("ab"), "NaN"),
    (softmax_maps(1, 2, 3)[0].expand(2, 2, 3, 3).reshape(2, 2, 3, 3)[None], list("abc"), "shape"),
    ({"a": softmax_maps(2, 1, 3)}, list("abc"), "batch of 2"),
    ({"self": softmax_maps(1, 1, 3), "cross": softmax_maps(1, 1, 3, 4)}, list("abc"), "differ in shape"),
])
def test_stack_rejects_bad_input(weights, tokens, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        attention_stack(weights, tokens)


def test_head_out_of_range_is_a_clear_error():
    stack = attention_stack(softmax_maps(2, 3, 4), list("abcd"))
    with pytest.raises(ValueError, match=r"head 3 out of range: there are 3 heads \(0..2\)"):
        stack.head(0, 3)
    with pytest.raises(ValueError, match="layer 2 out of range"):
        stack.head(2, 0)


def test_visible_labels():
    assert visible("\n") == "\\n" and visible("\x1b[31m") == "\\x1b[31m" and visible(" ") == "␣"
    assert visible(HOSTILE) == HOSTILE and visible("사과") == "사과"


# ---- PNG ----------------------------------------------------------------------------------

def test_png_head_has_labels_values_and_is_written(tmp_path):
    toks = ["The", "animal", "it", "\n"]
    w = softmax_maps(2, 2, 4)
    fig = plot_head(w, toks, layer=1, head=0, path=tmp_path / "head.png")
    assert (tmp_path / "head.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["head.png"]  # no temp file left behind
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["The", "animal", "it", "\\n"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["The", "animal", "it", "\\n"]
    assert ax.get_title() == "layer 1, head 0"
    cells = [t.get_text() for t in ax.texts]
    assert len(cells) == 16 and cells[0] == f"{w[1, 0, 0, 0].item():.2f}"
    big = plot_head(softmax_maps(1, 1, 40), [f"t{i}" for i in range(40)])
    assert len(big.axes[0].texts) == 0  # no numbers printed in a large matrix


def test_png_grid_is_layers_by_heads(tmp_path):
    fig = plot_grid(softmax_maps(3, 4, 5), list("abcde"), path=tmp_path / "grid.svg", title="grid")
    heatmaps = [ax for ax in fig.axes if ax.get_title().startswith("head")]
    assert len(heatmaps) == 12
    assert [ax.get_title() for ax in heatmaps[:4]] == ["head 0", "head 1", "head 2", "head 3"]
    assert heatmaps[4].get_ylabel() == "layer 1"
    assert (tmp_path / "grid.svg").read_text().lstrip().startswith("<?xml")


@pytest.mark.parametrize("n", [5, 40])
def test_png_grid_labels_its_outer_axes_with_tokens(n):
    tokens = [f"t{i}" for i in range(n)]
    fig = plot_grid(softmax_maps(2, 3, n), tokens)
    heatmaps = [ax for ax in fig.axes if ax.get_title().startswith("head")]
    corner = heatmaps[3]  # layer 1, head 0: in the first column and the last row
    rows = [t.get_text() for t in corner.get_yticklabels()]
    columns = [t.get_text() for t in corner.get_xticklabels()]
    every = 1 if n <= 16 else 2  # 40 tokens: the map grows to 5 inches, room for 30 labels
    assert rows == columns == tokens[::every]
    assert not heatmaps[4].yaxis.get_tick_params()["labelleft"]  # inner maps: no repeated labels


def test_png_bad_path_is_a_clear_error(tmp_path):
    w = softmax_maps(1, 1, 2)
    with pytest.raises(ValueError, match="cannot save a figure as .txt"):
        plot_head(w, list("ab"), path=tmp_path / "x.txt")
    (tmp_path / "file").write_text("")
    with pytest.raises(OSError):
        plot_head(w, list("ab"), path=tmp_path / "file" / "x.png")


def _missing_glyph_warnings(fig) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        FigureCanvasAgg(fig).draw()  # rasterise: a glyph the fonts lack is a warning
    return [str(w.message) for w in caught if "missing from font" in str(w.message)]


def test_hangul_glyphs_are_in_the_font_and_render(tmp_path):
    from matplotlib import ft2font

    path = png_mod.hangul_font_path()
    assert path is not None, "pip install koreanize-matplotlib"
    font = ft2font.FT2Font(str(path))
    for ch in "나는사과를먹었다":
        assert font.get_char_index(ord(ch)) != 0, ch
    assert png_mod.font_families(KOREAN)[1] == "NanumGothic"
    fig = plot_head(softmax_maps(1, 1, 3), KOREAN, title="어텐션", path=tmp_path / "ko.png")
    assert _missing_glyph_warnings(fig) == []
    # The check can fail: the same text drawn with DejaVu Sans alone lacks these glyphs.
    bare = Figure()
    bare.text(0.5, 0.5, "사과를", fontfamily="DejaVu Sans")
    assert _missing_glyph_warnings(bare)


def test_missing_font_package_says_what_to_install(monkeypatch):
    monkeypatch.setattr(png_mod, "hangul_font_path", lambda: None)
    with pytest.raises(ValueError, match="pip install koreanize-matplotlib"):
        plot_head(softmax_maps(1, 1, 3), KOREAN, strict_font=True)
    with pytest.warns(UserWarning, match="pip install koreanize-matplotlib"):
        png_mod.font_families(KOREAN)
    assert png_mod.font_families(["latin", "only"]) == ["DejaVu Sans"]  # no Hangul: no warning


# ---- terminal -----------------------------------------------------------------------------

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


# ---- HTML -----------------------------------------------------------------------------------

def test_html_is_self_contained_and_escaped(tmp_path):
    toks = ["The", HOSTILE, "사과", "&amp;"]
    page = render_html(softmax_maps(2, 2, 4), toks, title=HOSTILE)
    assert "http://" not in page and "https://" not in page and "//cdn" not in page
    assert page.count("<script") == 2 and page.count("</script>") == 2  # data block + inline JS
    assert "<script>alert(1)" not in page and f"<title>{html_lib.escape(HOSTILE)}</title>" in page
    data = read_payload(page)
    assert data["tokens_q"] == toks and data["tokens_k"] == toks and data["title"] == HOSTILE
    path = save_html(tmp_path / "a.html", softmax_maps(1, 1, 2), ["x", "y"])
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert [p.name for p in tmp_path.iterdir()] == ["a.html"]


def test_html_inlines_the_heatmap_module_once():
    page = render_html(softmax_maps(1, 2, 3), ["a", "b", "c"])
    heatmap = (resources.files("attnlab.viz") / "assets" / "heatmap.js").read_text(encoding="utf-8")
    assert page.count(heatmap) == 1 and page.index(heatmap) < page.index("attnlabHeatmap.image")


def test_the_blues_table_is_written_once():
    """BLUES lives in viz/assets/heatmap.js; the lab, the HTML view and matrix_html read it."""
    src = Path(attnlab.__file__).parent
    ends = re.compile(r"247\D{1,4}251\D{1,4}255|8\D{1,4}48\D{1,4}107")
    files = sorted(p.relative_to(src).as_posix() for p in src.rglob("*")
                   if p.suffix in {".py", ".js", ".css", ".html", ".json"} and ends.search(p.read_text("utf-8")))
    assert files == ["viz/assets/heatmap.js"]
    painters = sorted(p.relative_to(src).as_posix() for p in src.rglob("*.js")
                      if re.search(r"createImageData|fillRect", p.read_text("utf-8")))
    assert painters == ["viz/assets/heatmap.js"]  # one way to paint a matrix
    low, high = blues_table()
    assert (blues_css(0.0), blues_css(1.0)) == (f"rgb{low}".replace(" ", ""), f"rgb{high}".replace(" ", ""))
    mid = [round((a + b) / 2) for a, b in zip(low, high)]
    assert blues_css(0.5) == "rgb({},{},{})".format(*mid) and blues_css(7.0) == blues_css(1.0)
    page = matrix_html([[0.0, 0.5, 2.0]], ["p"], ["a", "b", "c"], vmax=2.0)  # 0..vmax: the same table
    assert all(f"background:{blues_css(x)}" in page for x in (0.0, 0.25, 1.0))


@pytest.mark.parametrize("bits", [16, 8])
def test_html_weights_round_trip_within_quantisation(bits):
    w = softmax_maps(2, 3, 7, 5)
    data = read_payload(render_html(w, list("abcdefg"), list("vwxyz"), layer_names=["enc", "dec"], bits=bits))
    assert data["shape"] == [2, 3, 7, 5] and data["layers"] == ["enc", "dec"] and data["bits"] == bits
    back = decode_weights(data)
    np.testing.assert_allclose(back, w.numpy(), atol=0.5 / ((1 << bits) - 1) + 1e-7, rtol=0)


def test_html_picks_8_bits_for_large_inputs():
    assert read_payload(render_html(softmax_maps(1, 1, 4), list("abcd")))["bits"] == 16
    big = softmax_maps(1, 4, 512)  # 1M weights
    data = read_payload(render_html(big, [str(i) for i in range(512)]))
    assert data["bits"] == 8


def test_html_repr_is_an_isolated_iframe():
    shown = attention_html(softmax_maps(1, 1, 2), ["a", HOSTILE])
    assert isinstance(shown, AttentionHTML)
    frame = shown._repr_html_()
    assert frame.startswith("<iframe srcdoc=\"") and 'sandbox="allow-scripts"' in frame
    srcdoc = frame[len('<iframe srcdoc="'):frame.index('" sandbox=')]
    assert '"' not in srcdoc and "<" not in srcdoc  # the page cannot break out of the attribute
    assert html_lib.unescape(srcdoc) == shown.html


@pytest.mark.slow  # importing transformers takes seconds on a loaded 2-core machine
def test_html_accepts_hugging_face_attentions():
    transformers = pytest.importorskip("transformers")
    config = transformers.BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=32, max_position_embeddings=16)
    model = transformers.BertModel(config, add_pooling_layer=False).eval()
    model.config._attn_implementation = "eager"
    with torch.no_grad():
        out = model(torch.tensor([[1, 5, 7, 2]]), output_attentions=True)
    data = read_payload(render_html(out.attentions, ["[CLS]", "a", "b", "[SEP]"]))
    assert data["shape"] == [2, 2, 4, 4]
    np.testing.assert_allclose(decode_weights(data)[1], out.attentions[1][0].numpy(), atol=1e-4)


def test_loss_figure_draws_the_records_it_is_given():
    from attnlab.viz.loss import loss_figure

    assert loss_figure([]) is None and loss_figure([{"step": 0, "lr": 0.1}]) is None
    records = [{"step": 1, "loss": 3.0}, {"step": 2, "loss": 2.5},
               {"step": 2, "train_loss": 2.4, "val_loss": 2.6}]
    lines = {line.get_label(): line for line in loss_figure(records).axes[0].get_lines()}
    assert list(lines["train (batch)"].get_xdata()) == [1, 2]
    assert list(lines["train (batch)"].get_ydata()) == [3.0, 2.5]
    assert list(lines["val (estimate)"].get_ydata()) == [2.6]
    assert lines["val (estimate)"].get_linestyle() == "None"  # fewer than three estimates: points only
