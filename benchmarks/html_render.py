"""HTML attention view: file size and time to first render in headless chromium.

    python benchmarks/html_render.py                 # 512 tokens × 6 layers × 6 heads
    python benchmarks/html_render.py --tokens 256 --repeats 5

Targets (issue 4): first render under 2 s, file under 5 MB. The weights are synthetic but
attention-like: softmax(spread·N(0, 1) − locality·|i − j|), every row sums to 1 (flatter maps,
e.g. `--spread 2 --locality 0`, compress less and make a larger file). "first render" is the
page's own clock (performance.now, from navigation start) when the first frame with both views
has been painted; "switch head" is choosing another head until the next frame is painted.
Needs `pip install playwright` and Debian's chromium (`apt-get install -y chromium`).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from attnlab.viz.html import save_html

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]

SWITCH_HEAD = """async (head) => {
  const select = document.querySelector("select.head");
  select.value = String(head);
  const start = performance.now();
  select.dispatchEvent(new Event("change"));
  await new Promise((done) => requestAnimationFrame(() => setTimeout(done, 0)));
  return performance.now() - start;
}"""


def synthetic_weights(L: int, H: int, T: int, spread: float = 3.0, locality: float = 0.1,
                      seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    pos = torch.arange(T)
    scores = spread * torch.randn(L, H, T, T, generator=g) - locality * (pos[:, None] - pos[None, :]).abs()
    return scores.softmax(-1)  # (L, H, T, T)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=512)
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--heads", type=int, default=6)
    parser.add_argument("--spread", type=float, default=3.0, help="std of the random scores")
    parser.add_argument("--locality", type=float, default=0.1, help="score penalty per token of distance")
    parser.add_argument("--repeats", type=int, default=3, help="page loads to take the median of")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args(argv)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("needs playwright: pip install playwright", file=sys.stderr)
        return 1
    if not os.path.exists(args.chromium):
        print(f"needs chromium at {args.chromium}: apt-get install -y chromium", file=sys.stderr)
        return 1

    weights = synthetic_weights(args.layers, args.heads, args.tokens, args.spread, args.locality)
    tokens = [f"tok{i}" for i in range(args.tokens)]
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        path = save_html(Path(tmp) / "attention.html", weights, tokens, title="benchmark")
        build_s = time.perf_counter() - start
        size_mb = path.stat().st_size / 1e6
        first, wall, switch = [], [], []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
            for r in range(args.repeats):
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                start = time.perf_counter()
                page.goto(path.as_uri())
                page.wait_for_selector("#attnlab-root[data-ready='1']", timeout=60_000)
                wall.append(time.perf_counter() - start)
                first.append(float(page.get_attribute("#attnlab-root", "data-first-render-ms")) / 1000)
                switch.append(page.evaluate(SWITCH_HEAD, (r + 1) % args.heads) / 1000)
                page.close()
            browser.close()

    print(f"{args.tokens} tokens × {args.layers} layers × {args.heads} heads "
          f"({weights.numel() / 1e6:.1f} M weights)")
    print(f"file size           {size_mb:6.2f} MB   (target < 5 MB)")
    print(f"python render+save  {build_s:6.2f} s")
    print(f"first render        {statistics.median(first):6.2f} s    (target < 2 s; median of {args.repeats})")
    print(f"goto → ready (wall) {statistics.median(wall):6.2f} s")
    print(f"switch head         {statistics.median(switch):6.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
