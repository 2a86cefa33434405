"""The decoding step's lm_head product against a plain read of the same bytes: how close to memory's rate.

    python benchmarks/head_bandwidth.py [--vocab-size 50257] [--rounds 5] [--repeats 40] [--threads N]

At batch 1 the lm_head's product reads its whole weight, (V, C) = 50,257 × 128 fp32 = 25.7 MB,
for 6.4 MFLOP: the bytes, not the arithmetic, set its time. Rows, taking turns in each round:
- the decode head: `torch.bmm` over the vocabulary slices, one per thread, as `decode_step` does;
- one (C, V) product: `x @ W_t`, the layout before the slices;
- a read of the same bytes: `head.sum()` over the slices, the rate the memory gives a stream.
Each row is timed hot (run again and again: the weight partly stays in the caches) and cold (after
reading a buffer of --flush-mb, as in generation, where each token's blocks and KV caches pass
through the caches between two head products). A row's figure is the median of its rounds'
medians; the ratio to the read is the median of its per-round ratios. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from attnlab.fast.decode import vocab_slices


def median_time(run, repeats: int, flush: torch.Tensor | None) -> float:
    """The median seconds of `run()` over repeats, reading `flush` before each one when given."""
    times = []
    for _ in range(repeats):
        if flush is not None:
            flush.sum()
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vocab-size", type=int, default=50257)
    parser.add_argument("--width", type=int, default=128, help="C, the model's width")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=40, help="timings of a row per round")
    parser.add_argument("--flush-mb", type=int, default=128, help="what a cold row reads first (MB)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    weight = torch.randn(args.vocab_size, args.width)  # (V, C), as nn.Linear keeps the lm_head
    threads = torch.get_num_threads()
    head = vocab_slices(weight, threads)  # (P, C, V/P)
    whole = weight.t().contiguous()  # (C, V)
    x = torch.randn(1, args.width)  # (B, C), B = 1
    h = x.view(1, 1, args.width).expand(threads, 1, args.width)  # the same row for every slice
    flush = torch.ones(args.flush_mb * 2**20 // 4)
    assert torch.allclose(torch.bmm(h, head).reshape(-1)[:args.vocab_size], x @ whole, atol=1e-4)
    rows = {"the decode head (slices)": lambda: torch.bmm(h, head),
            "one (C, V) product": lambda: x @ whole,
            "a read of the same bytes": lambda: head.sum()}
    with open("/proc/cpuinfo") if os.path.exists("/proc/cpuinfo") else open(os.devnull) as f:
        cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "unknown CPU")
    megabytes = head.numel() * head.element_size() / 1e6
    print(f"lm_head {args.vocab_size} x {args.width} fp32, {megabytes:.1f} MB; {threads} threads (slices); "
          f"torch {torch.__version__}; {cpu}, load average {os.getloadavg()[0]:.1f}")
    for state, cold in (("hot", None), ("cold", flush)):
        times: dict[str, list[float]] = {name: [] for name in rows}
        for _ in range(args.rounds):
            for name, run in rows.items():
                times[name].append(median_time(run, args.repeats, cold))
        read = times["a read of the same bytes"]
        for name, ts in times.items():
            t = statistics.median(ts)
            ratio = statistics.median(r / o for r, o in zip(read, ts))
            print(f"  {state:4s} {name:26s} {t * 1e6:7.0f} µs  {megabytes / 1e3 / t:5.1f} GB/s  "
                  f"{ratio:.2f}x the read's rate")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
