"""attnlab.viz.html: one self-contained, escaped HTML file per attention stack; its weights round-trip
through the page; one colour table for every picture."""

from __future__ import annotations

import html as html_lib
import re
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import torch

import attnlab
from attnlab.viz import render_html, save_html
from attnlab.viz.heatmap import matrix_html
from attnlab.viz.html import AttentionHTML, attention_html, blues_css, blues_table, decode_weights, read_payload

from viz_helpers import HOSTILE, softmax_maps  # noqa: E402


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
