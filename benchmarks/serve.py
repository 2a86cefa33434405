"""`attnlab serve`: first paint, one attention request for 64 tokens, and latency under load.

    PYTHONPATH=src python benchmarks/serve.py                       # runs/cpu-shakespeare-char
    PYTHONPATH=src python benchmarks/serve.py --runs runs --run cpu-shakespeare-char --pages 5

Targets (issue 15): first paint under 1 s and an attention request for 64 tokens under 100 ms
on the default run. The lab runs in this process on 127.0.0.1 (a thread, as `attnlab serve`
runs it, torch on --threads threads); clients are plain http.client connections, one per
request, over loopback.

- first paint: Debian's chromium (Playwright) opens the page in a fresh context (nothing cached);
  first-contentful-paint from the browser's own paint timing, and "ready": the page's clock when
  every panel has its first answer (the attention, explain, lens, ablate, sampling and why
  requests for the default sentence).
- attention: POST /api/attention with a 64-character text (64 tokens of the char run), whole
  response read and parsed; the median of --repeats after one warm-up, and the part spent in
  `api.attention` itself (the forward and the rounding) and in JSON encoding.
- load: --clients threads x --requests each, mixing attention, lens and ablate (a head or none;
  the full per-head table, as for a new text) round-robin; p50 / p95 of every request and
  requests per second. The model is shared and locked, so requests queue: p50 is mostly waiting.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import threading
import time
from pathlib import Path

import torch

from attnlab.serve import api
from attnlab.serve.server import Background
from attnlab.serve.store import ModelStore

TEXT_64 = "First Citizen: Before we proceed any further, hear me speak. All"  # 64 characters
TEXTS = [TEXT_64, "All: Speak, speak.", "You are all resolved rather to die than to famish?",
         "First Citizen: You are all resolved rather to die than to fam"]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


def post(host: str, port: int, name: str, body: dict) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(host, port, timeout=120)
    try:
        conn.request("POST", f"/api/{name}", json.dumps(body), {"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def first_paint(url: str, pages: int) -> tuple[list[float], list[float]]:
    from playwright.sync_api import sync_playwright

    paints, readies = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        for _ in range(pages):
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            page = context.new_page()
            page.goto(url)
            page.wait_for_selector("body[data-ready='1']", timeout=60_000)
            ready = page.evaluate("performance.now()")
            paint = page.evaluate("performance.getEntriesByName('first-contentful-paint')[0].startTime")
            paints.append(paint)
            readies.append(ready)
            context.close()
        browser.close()
    return paints, readies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="runs")
    parser.add_argument("--run", default="cpu-shakespeare-char")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (attnlab serve's default: 1)")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--pages", type=int, default=5)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=25)
    parser.add_argument("--no-browser", action="store_true", help="skip the first-paint measurement")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    store = ModelStore(Path(args.runs), minilm=False)
    ref = {"run": args.run}
    shared = store.get(ref)
    print(f"{shared.source.name}: {shared.source.n_layers} layers x {shared.source.n_heads} heads, "
          f"{sum(p.numel() for p in shared.source.model.parameters()):,} parameters, torch threads {args.threads}")

    with Background(store) as lab:
        host, port = lab.sock.getsockname()[:2]
        # ---- one attention request, 64 tokens
        body = {**ref, "text": TEXT_64}
        status, raw = post(host, port, "attention", body)
        assert status == 200, raw[:200]
        assert json.loads(raw)["shape"][2] == 64
        http_ms, compute_ms, encode_ms = [], [], []
        for _ in range(args.repeats):
            start = time.perf_counter()
            status, raw = post(host, port, "attention", body)
            json.loads(raw)
            http_ms.append(1000 * (time.perf_counter() - start))
            start = time.perf_counter()
            answer = api.attention(shared, body)
            middle = time.perf_counter()
            json.dumps(answer)
            compute_ms.append(1000 * (middle - start))
            encode_ms.append(1000 * (time.perf_counter() - middle))
        print(f"attention, 64 tokens over HTTP: median {statistics.median(http_ms):.1f} ms "
              f"(min {min(http_ms):.1f}, max {max(http_ms):.1f}; {len(raw) / 1e6:.2f} MB of JSON); "
              f"in api.attention {statistics.median(compute_ms):.1f} ms, JSON encoding {statistics.median(encode_ms):.1f} ms")

        # ---- first paint
        if not args.no_browser:
            paints, readies = first_paint(lab.url, args.pages)
            print(f"first contentful paint: median {statistics.median(paints):.0f} ms "
                  f"(min {min(paints):.0f}, max {max(paints):.0f}); every panel answered: median "
                  f"{statistics.median(readies):.0f} ms (min {min(readies):.0f}, max {max(readies):.0f}); "
                  f"{args.pages} fresh pages")

        # ---- load
        latencies: dict[str, list[float]] = {"attention": [], "lens": [], "ablate": []}
        errors: list[str] = []
        lock = threading.Lock()

        def work(k: int) -> None:
            for r in range(args.requests):
                name = ("attention", "lens", "ablate")[(k + r) % 3]
                request = {**ref, "text": TEXTS[(k * 7 + r) % len(TEXTS)]}
                if name == "ablate":
                    request["heads"] = [[(k + r) % shared.source.n_layers, r % shared.source.n_heads]]
                start = time.perf_counter()
                try:
                    status, raw = post(host, port, name, request)
                    bad = None if status == 200 else f"{name} {status} {raw[:100]!r}"
                except Exception as exc:  # noqa: BLE001
                    bad = f"{name} {exc!r}"
                took = time.perf_counter() - start
                with lock:
                    latencies[name].append(took)
                    if bad:
                        errors.append(bad)

        threads = [threading.Thread(target=work, args=(k,)) for k in range(args.clients)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - start
    everything = [x for v in latencies.values() for x in v]
    print(f"load: {args.clients} clients x {args.requests} requests in {wall:.1f} s ({len(everything) / wall:.1f} "
          f"requests/s), {len(errors)} errors; p50 {1000 * percentile(everything, 0.5):.0f} ms, "
          f"p95 {1000 * percentile(everything, 0.95):.0f} ms; "
          + ", ".join(f"{n} p50 {1000 * percentile(v, 0.5):.0f} / p95 {1000 * percentile(v, 0.95):.0f} ms"
                      for n, v in latencies.items()))
    for e in errors[:5]:
        print("  error:", e)


if __name__ == "__main__":
    main()
