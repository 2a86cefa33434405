"""The web lab under load, over loopback: 20 concurrent clients x 25 requests mixing attention,
lens and ablate on a default-sized run (the `cpu` preset's model: 4 layers of 4 heads, width 128,
64 tokens). Zero errors; the latency percentiles are printed, never asserted (see
benchmarks/serve.py and benchmarks/README.md for the figures)."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="attnlab serve needs starlette: pip install -e '.[serve]'")
pytest.importorskip("uvicorn", reason="attnlab serve needs uvicorn: pip install -e '.[serve]'")

from serve_helpers import DEFAULT_SIZE, Client, train_run  # noqa: E402
from train_helpers import one_thread  # noqa: E402,F401 (an autouse fixture)

from attnlab.serve.server import Background  # noqa: E402
from attnlab.serve.store import ModelStore  # noqa: E402

CLIENTS, REQUESTS = 20, 25
# Texts up to the run's 64 positions, all made of characters of the corpus.
TEXTS = ["First Citizen: Before we proceed any further, hear me speak.",
         "All: Speak, speak.",
         "You are all resolved rather to die than to famish?",
         "First Citizen: You are all resolved rather to die than to fam"]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@pytest.mark.slow
def test_20_clients_x_25_requests_without_an_error(tmp_path, capsys):
    runs = tmp_path / "runs"
    train_run(runs, "default", *DEFAULT_SIZE)
    latencies: dict[str, list[float]] = {"attention": [], "lens": [], "ablate": []}
    errors: list[tuple] = []
    lock = threading.Lock()
    with Background(ModelStore(runs, minilm=False)) as lab:
        client = Client(lab.url)
        client.ok("attention", {"run": "default", "text": TEXTS[0]})  # loads the model

        def work(k: int) -> None:
            for r in range(REQUESTS):
                name = ("attention", "lens", "ablate")[(k + r) % 3]
                body = {"run": "default", "text": TEXTS[(k * 7 + r) % len(TEXTS)]}
                if name == "ablate":
                    body["heads"] = [[(k + r) % 4, r % 4]]
                start = time.perf_counter()
                try:
                    status, answer = client.post(name, body)
                    bad = status != 200 or "error" in answer
                except Exception as exc:  # noqa: BLE001 - a dropped connection is an error too
                    status, answer, bad = None, repr(exc), True
                took = time.perf_counter() - start
                with lock:
                    latencies[name].append(took)
                    if bad:
                        errors.append((name, status, str(answer)[:200]))

        threads = [threading.Thread(target=work, args=(k,)) for k in range(CLIENTS)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - start
    everything = [x for v in latencies.values() for x in v]
    assert errors == []
    assert len(everything) == CLIENTS * REQUESTS
    with capsys.disabled():
        print(f"\nserve load: {CLIENTS} clients x {REQUESTS} requests in {wall:.1f} s "
              f"({len(everything) / wall:.0f} requests/s); latency p50 {1000 * percentile(everything, 0.5):.0f} ms, "
              f"p95 {1000 * percentile(everything, 0.95):.0f} ms; "
              + ", ".join(f"{name} p50 {1000 * percentile(v, 0.5):.0f} ms" for name, v in latencies.items()))
