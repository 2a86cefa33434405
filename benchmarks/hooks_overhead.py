"""What named points cost: a training step with nothing recorded vs the code before them, and
what recording costs in a forward pass.

1. Training step (forward, loss, backward, clip, AdamW step) of the `cpu` preset's model (4 layers,
   4 heads, width 128, 64 tokens, batch 12, vocab 77), this working tree vs `--baseline` (a git
   revision from before the named points, extracted with `git archive` into a temporary folder).
   Each side runs in its own process; the processes alternate, round after round, so that drift
   on a shared machine hits both alike. Reported: the median over rounds of each round's median
   ms/step, and their ratio (target <= 1.02).
2. The points a forward passes through, times the cost of passing one with nothing attached.
3. Forward pass (inference mode) of the same model at batch 12 in this process: nothing recorded,
   `record(model, "blocks.*.out")` (SDPA kept), `record(model, "**")` (every point; attention takes
   the explicit path), interleaved, medians.

    PYTHONPATH=src python benchmarks/hooks_overhead.py --rounds 10 --steps 30
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "9b1784d"  # main before the named points
SHAPE = dict(vocab_size=77, max_seq_len=64, d_model=128, n_heads=4, n_layers=4, dropout=0.0)
BATCH = 12


def step_times(steps: int, warmup: int) -> list[float]:
    """Seconds per training step of the attnlab found on sys.path (run in a worker process)."""
    from attnlab import GPT, GPTConfig

    torch.manual_seed(0)
    model = GPT(GPTConfig(**SHAPE)).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    batches = [torch.randint(0, SHAPE["vocab_size"], (BATCH, SHAPE["max_seq_len"] + 1), generator=g)
               for _ in range(8)]
    times = []
    for i in range(warmup + steps):
        data = batches[i % len(batches)]
        start = time.perf_counter()
        _, loss = model(data[:, :-1], targets=data[:, 1:])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - start)
    return times[warmup:]


def extract(revision: str, into: Path) -> Path:
    """src/ of `revision`, unpacked under `into`; returns the folder to put on PYTHONPATH."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision, "src"], check=True,
                             capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def worker(src: Path, args: argparse.Namespace) -> float:
    env = {**os.environ, "PYTHONPATH": str(src)}
    cmd = [sys.executable, __file__, "--worker", "--steps", str(args.steps), "--warmup", str(args.warmup),
           "--threads", str(args.threads)]
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["median_s"]


def training_step(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        sides = {"baseline": extract(args.baseline, Path(tmp)), "named points": ROOT / "src"}
        medians: dict[str, list[float]] = {name: [] for name in sides}
        for r in range(args.rounds):
            order = list(sides) if r % 2 == 0 else list(sides)[::-1]
            for name in order:
                medians[name].append(worker(sides[name], args))
    base, ours = (statistics.median(medians[k]) for k in ("baseline", "named points"))
    per_round = [b / a for a, b in zip(medians["baseline"], medians["named points"])]
    print(f"training step, B={BATCH} T={SHAPE['max_seq_len']}, {args.threads} thread(s), {args.rounds} rounds "
          f"x {args.steps} steps")
    print(f"  baseline {args.baseline}: {base * 1e3:7.2f} ms/step (median of round medians)")
    print(f"  named points, nothing recorded: {ours * 1e3:7.2f} ms/step")
    print(f"  ratio {ours / base:.3f} (target <= 1.02); per-round ratios: median {statistics.median(per_round):.3f}, "
          f"min {min(per_round):.3f}, max {max(per_round):.3f}")


def point_call_cost() -> None:
    """A bound that does not depend on a quiet machine: points passed per forward x the cost of
    passing one with nothing attached."""
    import timeit

    from attnlab import GPT, GPTConfig
    from attnlab.model.points import Point, named_points

    n = len(named_points(GPT(GPTConfig(**SHAPE))))
    point, x = Point(), torch.zeros(1)
    per_call = min(timeit.repeat(lambda: point(x), number=100_000, repeat=5)) / 100_000
    print(f"named points: {n} per forward, {per_call * 1e9:.0f} ns each with nothing attached "
          f"= {n * per_call * 1e6:.1f} µs per forward")


def forward_cost(args: argparse.Namespace) -> None:
    from attnlab import GPT, GPTConfig, record

    torch.manual_seed(0)
    model = GPT(GPTConfig(**SHAPE)).eval()
    idx = torch.randint(0, SHAPE["vocab_size"], (BATCH, SHAPE["max_seq_len"]))
    cases = {"nothing recorded": (), "record blocks.*.out": ("blocks.*.out",), "record ** (every point)": ("**",)}

    def run(patterns: tuple[str, ...]) -> float:
        start = time.perf_counter()
        if patterns:
            with record(model, *patterns):
                model(idx)
        else:
            model(idx)
        return time.perf_counter() - start

    times: dict[str, list[float]] = {name: [] for name in cases}
    with torch.inference_mode():
        for i in range(args.warmup + args.steps * 2):
            for name, patterns in cases.items():
                t = run(patterns)
                if i >= args.warmup:
                    times[name].append(t)
    plain = statistics.median(times["nothing recorded"])
    print(f"forward pass, inference mode, {len(times['nothing recorded'])} interleaved runs each")
    for name in cases:
        t = statistics.median(times[name])
        print(f"  {name:<24} {t * 1e3:7.2f} ms  ({t / plain:.2f}x)")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--baseline", default=BASELINE, help="git revision to compare the training step with")
    p.add_argument("--rounds", type=int, default=10, help="alternating process pairs")
    p.add_argument("--steps", type=int, default=30, help="timed steps per process (forwards: twice as many)")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 is steadiest on a shared machine)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--skip-training", action="store_true", help="only the forward-pass figures")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.worker:
        print(json.dumps({"median_s": statistics.median(step_times(args.steps, args.warmup))}))
        return 0
    if not args.skip_training:
        training_step(args)
    point_call_cost()
    forward_cost(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
