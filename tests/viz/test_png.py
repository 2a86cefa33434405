"""attnlab.viz.png: attention heatmaps as matplotlib Figures (no pyplot), labelled, written, and
with Hangul glyphs."""

import warnings

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from attnlab.viz import plot_grid, plot_head
from attnlab.viz import png as png_mod

from viz_helpers import KOREAN, softmax_maps  # noqa: E402


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
