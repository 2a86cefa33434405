"""Attention as one self-contained HTML page: pick a layer and a head, see lines from each
query token to the keys it attends to (opacity = weight) and the matrix as a heatmap; hover a
token to read its row of weights. Works offline: the JS and CSS are inlined from package data
and the weights are embedded as JSON; the page names no network address at all.

    save_html("attention.html", maps, tokens)             # maps from capture_attention
    attention_html(maps, tokens)                           # shows inline in Jupyter

The weights are quantised to 16 bits (small inputs) or 8 bits (large ones: 512 tokens × 6 × 6
would otherwise be tens of megabytes), deflated and base64-encoded; the page unpacks them with
the browser's own DecompressionStream. `decode_weights` is the same unpacking in Python.

The matrix is painted by assets/heatmap.js, which the web lab loads too; its colour table BLUES
is the one copy, and `blues_table` / `blues_css` read it for the Python renderers.
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
import zlib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from attnlab.io import atomic_write
from attnlab.viz.weights import AttentionStack, attention_stack, visible
from attnlab.errors import UserError

SMALL = 1_000_000  # up to this many weights are stored in 16 bits, beyond it in 8
# The page may run inline scripts and styles and nothing else: no request can leave it.
CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
       "img-src data: blob:")

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
{css}
</style>
</head>
<body class="attnlab">
<div id="attnlab-root">
  <h1 class="title"></h1>
  <div class="controls">
    <label>layer <select class="layer"></select></label>
    <label>head <select class="head"></select></label>
    <span class="status"></span>
  </div>
  <div class="views">
    <section class="lines-view">
      <h2>query → key (opacity = weight)<span class="line-note"></span></h2>
      <div class="scroll"><div class="lines-wrap">
        <div class="col q"></div><canvas class="lines"></canvas><div class="col k"></div>
      </div></div>
    </section>
    <section class="matrix-view">
      <h2>matrix (rows: queries, columns: keys)</h2>
      <canvas class="matrix"></canvas>
    </section>
    <aside class="info"><h2>hover a token or a cell to read its weights</h2></aside>
  </div>
</div>
<script type="application/json" id="attnlab-data">{data}</script>
<script>
{js}
</script>
</body>
</html>
"""


def _asset(name: str) -> str:
    text = (resources.files("attnlab.viz") / "assets" / name).read_text(encoding="utf-8")
    if "</script" in text.lower() or "</style" in text.lower():
        raise UserError(f"asset {name} must not contain a closing script/style tag")
    return text


@lru_cache(maxsize=1)
def blues_table() -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """heatmap.js's BLUES: the colours of weight 0 and weight 1 (linear between), as (r, g, b)."""
    match = re.search(r"^\s*const BLUES = (\[.*\]);", _asset("heatmap.js"), re.M)
    if match is None:
        raise RuntimeError("viz/assets/heatmap.js has no `const BLUES = [...];` line")
    low, high = json.loads(match.group(1))
    return tuple(low), tuple(high)


def blues_css(x: float) -> str:
    """The colour of weight `x` (clipped to [0, 1]) as CSS, as heatmap.js colours it.

    >>> blues_css(1.0) == "rgb({},{},{})".format(*blues_table()[1]) == blues_css(2.0)  # clipped
    True
    """
    v = min(max(float(x), 0.0), 1.0)
    low, high = blues_table()
    return "rgb({},{},{})".format(*(round(lo + (hi - lo) * v) for lo, hi in zip(low, high)))


def encode_weights(weights: np.ndarray, bits: int) -> str:
    """(L, H, T, S) floats in [0, 1] -> base64 of the deflated little-endian uint8/uint16 array."""
    if bits not in (8, 16):
        raise UserError(f"bits must be 8 or 16, got {bits}")
    top = (1 << bits) - 1
    dtype = "<u2" if bits == 16 else "u1"
    quantised = np.rint(np.clip(weights, 0.0, 1.0) * top).astype(dtype)
    return base64.b64encode(zlib.compress(quantised.tobytes(), 6)).decode("ascii")


def decode_weights(payload: dict[str, Any]) -> np.ndarray:
    """The page's data block back to (L, H, T, S) float32 weights (what the JS reads)."""
    raw = zlib.decompress(base64.b64decode(payload["weights"]))
    dtype = "<u2" if payload["bits"] == 16 else "u1"
    top = (1 << payload["bits"]) - 1
    return (np.frombuffer(raw, dtype=dtype).astype(np.float32) / top).reshape(payload["shape"])


def payload(stack: AttentionStack, title: str, bits: int | None = None) -> dict[str, Any]:
    """The JSON data block: token labels, layer names, shape and the packed weights."""
    if bits is None:
        bits = 16 if stack.weights.size <= SMALL else 8
    return {
        "title": title,
        "tokens_q": [visible(t) for t in stack.tokens_q],
        "tokens_k": [visible(t) for t in stack.tokens_k],
        "layers": stack.layer_names,
        "shape": list(stack.weights.shape),
        "bits": bits,
        "compression": "deflate",
        "weights": encode_weights(stack.weights, bits),
    }


def json_for_script(data: Any) -> str:
    """JSON that is safe inside <script>: `<`, `>` and `&` become \\u escapes, so a token such
    as `</script>` cannot end the block early (JSON.parse turns them back)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    for ch in "<>&\u2028\u2029":
        text = text.replace(ch, f"\\u{ord(ch):04x}")
    return text


def render_html(weights: Any, tokens_q: Sequence[str], tokens_k: Sequence[str] | None = None,
                layer_names: Sequence[str] | None = None, title: str = "attention",
                bits: int | None = None) -> str:
    """The whole page as a string.

    `weights`: (T, S), (H, T, S), (L, H, T, S), a capture dict or HF `output_attentions`;
    `tokens_k=None` for self-attention; `bits` 8 or 16 (None: 16 when small).
    """
    stack = attention_stack(weights, tokens_q, tokens_k, layer_names)
    js = _asset("heatmap.js") + "\n" + _asset("attention.js")  # one script: the painter, then the view
    return PAGE.format(csp=CSP, title=html.escape(title), css=_asset("attention.css"), js=js,
                       data=json_for_script(payload(stack, title, bits)))


def save_html(path: str | os.PathLike, weights: Any, tokens_q: Sequence[str],
              tokens_k: Sequence[str] | None = None, layer_names: Sequence[str] | None = None,
              title: str = "attention", bits: int | None = None) -> Path:
    """Write the page to `path` atomically (never a half-written file)."""
    return AttentionHTML(render_html(weights, tokens_q, tokens_k, layer_names, title, bits)).save(path)


def read_payload(page: str) -> dict[str, Any]:
    """The JSON data block of a page written by `render_html` (for tests and tools)."""
    match = re.search(r'<script type="application/json" id="attnlab-data">(.*?)</script>', page, re.S)
    if match is None:
        raise UserError("no attnlab data block in this page")
    return json.loads(match.group(1))


@dataclass
class AttentionHTML:
    """The page, displayable inline in Jupyter. It sits in a sandboxed iframe (srcdoc), so
    several on one notebook page keep their own ids and scripts apart."""

    html: str
    height: int = 720

    def _repr_html_(self) -> str:
        return (f'<iframe srcdoc="{html.escape(self.html, quote=True)}" sandbox="allow-scripts" '
                f'style="width: 100%; height: {self.height}px; border: 0"></iframe>')

    def save(self, path: str | os.PathLike) -> Path:
        return atomic_write(path, lambda tmp: Path(tmp).write_text(self.html, encoding="utf-8"))

    def __str__(self) -> str:
        return self.html


def attention_html(weights: Any, tokens_q: Sequence[str], tokens_k: Sequence[str] | None = None,
                   layer_names: Sequence[str] | None = None, title: str = "attention",
                   bits: int | None = None, height: int = 720) -> AttentionHTML:
    """`render_html` wrapped for Jupyter: the last expression of a cell shows the page."""
    return AttentionHTML(render_html(weights, tokens_q, tokens_k, layer_names, title, bits), height)
