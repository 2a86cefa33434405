"""Start-up: from the command to the first training step of `attnlab train` (defaults, one step).

    python benchmarks/startup.py [--src src OTHER_CHECKOUT/src ...] [--rounds 3]

Each round runs `python -m attnlab train --max-iters 1` once per source tree given (default: this
checkout's src), in turn, in a fresh folder, and reads the wall time until the step-0 evaluation
line appears (what follows it is the first step), the whole run's wall time, and its CPU time
(user + system, all threads). Medians over rounds. Also `attnlab --help`'s wall time. Nothing is
asserted; the CPU and the load average are printed with the figures.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def cpu_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def one_run(src: str, argv: list[str], marker: str | None) -> tuple[float, float, float]:
    """(seconds to the marker line, seconds in all, CPU seconds) of `python -m attnlab ARGV`."""
    env = {**os.environ, "PYTHONPATH": src}
    with tempfile.TemporaryDirectory() as folder:
        cpu0, t0 = cpu_children(), time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "attnlab", *argv], cwd=folder, env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        seen = float("nan")
        for line in proc.stdout:
            if marker and line.startswith(marker) and seen != seen:
                seen = time.perf_counter() - t0
        proc.wait()
        return seen, time.perf_counter() - t0, cpu_children() - cpu0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--src", nargs="+", default=[str(Path(__file__).resolve().parents[1] / "src")])
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args(argv)
    train = ["train", "--max-iters", "1", "--sample-tokens", "0", "--no-progress", "--name", "startup"]
    rows: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
    for _ in range(args.rounds):
        for src in args.src:
            rows.setdefault((src, "train"), []).append(one_run(src, train, "step 0:"))
            rows.setdefault((src, "--help"), []).append(one_run(src, ["--help"], None))
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), "unknown CPU") if Path("/proc/cpuinfo").exists() else "?"
    print(f"CPU: {model}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; {args.rounds} rounds, medians")
    for (src, what), runs in rows.items():
        first, total, cpu = (statistics.median(r[i] for r in runs) for i in range(3))
        head = f"to the first step {first:5.1f} s, " if what == "train" else ""
        print(f"  {src} {what}: {head}in all {total:5.1f} s, CPU {cpu:5.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
