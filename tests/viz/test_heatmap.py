"""The labelled-matrix renderers used by `lens` and `ablate`: data in, picture out."""

import pytest
from matplotlib.figure import Figure

from attnlab.viz.heatmap import matrix_html, plot_matrix


def test_plot_matrix_labels_and_blank_cells(tmp_path):
    fig = plot_matrix([[0.5, None], [0.25, 1.0]], ["embed", "blocks.0.out"], ["0:a", "1:\n"], vmax=1.0,
                      path=tmp_path / "m.png")
    assert isinstance(fig, Figure) and (tmp_path / "m.png").read_bytes()[:4] == b"\x89PNG"
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["embed", "blocks.0.out"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0:a", "1:\\n"]  # a newline token is visible
    assert sorted(t.get_text() for t in ax.texts) == ["0.25", "0.50", "1.00"]  # the None cell is blank
    with pytest.raises(ValueError, match="2 row and 2 column labels"):
        plot_matrix([[1.0, 2.0, 3.0]] * 2, ["a", "b"], ["x", "y"])


def test_matrix_html_is_offline_escaped_and_diverging():
    page = matrix_html([[-1.0, 0.0, 2.0]], ["layer 0"], ["<script>", "b", "c"], title="t&t", center=0.0)
    assert "<script>" not in page and "&lt;script&gt;" in page and "t&amp;t" in page
    assert "http" not in page.replace("http-equiv", "")
    assert "background:rgb(255,255,255)" in page  # 0 is the centre: white
    assert "background:rgb(255,65,65)" in page  # the largest change: full red
    assert "background:rgb(160,190,255)" in page  # -1 is half the reach: half blue
