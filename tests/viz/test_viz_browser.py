"""The HTML attention view in a real browser: Playwright driving Debian's headless chromium.

Needs `pip install playwright` and `apt-get install -y chromium` (never `playwright install`,
which downloads a browser build). Without them these tests are skipped, saying so.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from attnlab.viz.html import attention_html, blues_table, save_html

from browser_helpers import CHROMIUM, browser  # noqa: E402,F401 (a fixture)

HOSTILE = "<script>alert(1)</script> \"q\" & 'x'"

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed: pip install playwright")
if not os.path.exists(CHROMIUM):
    pytest.skip("chromium not installed: apt-get install -y chromium", allow_module_level=True)

pytestmark = pytest.mark.slow


class Watched:
    """A page that records console errors, page errors, dialogs and every request."""

    def __init__(self, browser):
        self.page = browser.new_page(viewport={"width": 1300, "height": 900})
        self.errors, self.dialogs, self.requests = [], [], []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("requestfailed", lambda r: self.errors.append(f"failed request {r.url}"))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))

    def open(self, path) -> "Watched":
        self.page.goto(path.as_uri())
        self.page.wait_for_selector("#attnlab-root[data-ready]", timeout=20_000)
        assert self.page.get_attribute("#attnlab-root", "data-ready") == "1"
        return self

    def matrix_pixels(self) -> str:
        return self.page.eval_on_selector("canvas.matrix", "c => c.toDataURL()")

    def corner_pixel(self) -> list[int]:
        """RGBA of the matrix's last cell (last query, last key), two pixels in from its corner,
        away from the number printed at its centre."""
        return self.page.eval_on_selector("canvas.matrix", """c => Array.from(
            c.getContext("2d").getImageData(c.width - 3, c.height - 3, 1, 1).data)""")


def weights(L: int, H: int, T: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(L, H, T, T, generator=g) * 2).softmax(-1)  # (L, H, T, T)


TOKENS = ["The", "animal", HOSTILE, "it", "나는", "tired"]


@pytest.fixture()
def page_file(tmp_path):
    w = weights(2, 3, len(TOKENS))
    return w, save_html(tmp_path / "attention.html", w, TOKENS, title=HOSTILE)


def test_loads_offline_with_no_console_error(browser, page_file):
    _, path = page_file
    view = Watched(browser).open(path)
    view.page.wait_for_timeout(200)
    assert view.errors == []
    assert view.requests == [path.as_uri()]  # nothing but the file itself: no network, no CDN
    assert view.page.locator("select.layer option").all_inner_texts() == ["layer 0", "layer 1"]
    assert view.page.locator("select.head option").count() == 3


def test_choosing_another_head_or_layer_changes_the_view(browser, page_file):
    view = Watched(browser).open(page_file[1])
    before = view.matrix_pixels()
    view.page.select_option("select.head", "2")
    assert view.page.get_attribute("#attnlab-root", "data-head") == "2"
    after_head = view.matrix_pixels()
    assert after_head != before
    view.page.select_option("select.layer", "1")
    assert view.page.get_attribute("#attnlab-root", "data-layer") == "1"
    assert view.matrix_pixels() not in (before, after_head)
    assert view.errors == []


def test_hover_shows_the_row_of_weights(browser, page_file):
    w, path = page_file
    view = Watched(browser).open(path)
    view.page.select_option("select.layer", "1")
    view.page.select_option("select.head", "2")
    view.page.hover(".col.q .tok >> nth=3")  # the query "it"
    numbers = view.page.locator(".col.k .tok .num").all_inner_texts()
    stored = np.rint(w.double().numpy() * 65535) / 65535  # what the page holds: 16-bit levels
    expected = [f"{x:.3f}" for x in stored[1, 2, 3]]
    assert numbers == expected
    info = view.page.inner_text(".info")
    assert "query 3" in info and expected[int(np.argmax(stored[1, 2, 3]))] in info
    view.page.hover(".col.k .tok >> nth=1")  # a key: its column, beside the queries
    column = view.page.locator(".col.q .tok .num").all_inner_texts()
    assert column == [f"{x:.3f}" for x in stored[1, 2, :, 1]]
    assert view.errors == []


def test_hostile_token_stays_text(browser, page_file):
    view = Watched(browser).open(page_file[1])
    view.page.hover(".col.q .tok >> nth=2")
    view.page.wait_for_timeout(200)
    assert view.dialogs == []  # alert(1) never ran
    labels = view.page.locator(".col.q .tok .label").all_text_contents()
    assert labels[2] == HOSTILE
    assert view.page.locator(".col.k .tok .label").nth(2).text_content() == HOSTILE
    assert view.page.text_content("h1.title") == HOSTILE and view.page.title() == HOSTILE
    assert HOSTILE in view.page.inner_text(".info")
    assert view.page.locator("#attnlab-root script").count() == 0  # no element was injected
    assert view.errors == []


def test_jupyter_iframe_renders_and_two_coexist(browser, tmp_path):
    a = attention_html(weights(1, 2, 3, seed=1), ["a", "b", HOSTILE])
    b = attention_html(weights(1, 4, 5, seed=2), list("vwxyz"))
    notebook = tmp_path / "notebook.html"
    notebook.write_text(f"<!DOCTYPE html><meta charset=utf-8><body>{a._repr_html_()}{b._repr_html_()}</body>",
                        encoding="utf-8")
    view = Watched(browser)
    view.page.goto(notebook.as_uri())
    frames = [f for f in view.page.frames if f != view.page.main_frame]
    assert len(frames) == 2
    for frame, heads in zip(frames, (2, 4)):
        frame.wait_for_selector("#attnlab-root[data-ready='1']", timeout=20_000)
        assert frame.locator("select.head option").count() == heads
    assert frames[0].locator(".col.q .tok .label").nth(2).text_content() == HOSTILE
    assert view.dialogs == [] and view.errors == []


def test_several_hundred_tokens_render(browser, tmp_path):
    T = 300
    path = save_html(tmp_path / "long.html", weights(2, 2, T), [f"t{i}" for i in range(T)])
    view = Watched(browser).open(path)
    lines = int(view.page.get_attribute("#attnlab-root", "data-lines"))
    assert 0 < lines <= 1000  # only the strongest lines are drawn at rest
    view.page.hover(".col.q .tok >> nth=150")
    assert len(view.page.locator(".col.k .tok .num").all_inner_texts()) == T
    assert "top 25 of 300" in view.page.inner_text(".info")
    assert view.errors == []


def expected_colour(w: float) -> list[int]:
    """The colour the page gives a weight, from Python's own reading of heatmap.js's table:
    16-bit level, its top 8 bits as the shade, the table's two ends mixed linearly."""
    shade = int(np.rint(w * 65535)) >> 8
    low, high = (np.array(c, dtype=np.float64) for c in blues_table())
    return [int(c) for c in np.rint(low + (high - low) * shade / 255)]


def test_the_matrix_has_the_one_colour_table(browser, page_file):
    w, path = page_file
    view = Watched(browser).open(path)
    assert view.page.evaluate("attnlabHeatmap.BLUES") == [list(c) for c in blues_table()]
    assert view.corner_pixel() == expected_colour(float(w[0, 0, 5, 5])) + [255]
    view.page.select_option("select.layer", "1")
    assert view.corner_pixel() == expected_colour(float(w[1, 0, 5, 5])) + [255]
    assert view.errors == []
