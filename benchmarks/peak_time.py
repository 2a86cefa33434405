"""How long the MFU peak measurement takes at a run's start, per dtype (the target: at most 0.5 s).

    python benchmarks/peak_time.py [--threads N] [--repeats 3]

Each measurement starts from an empty cache (the slowest case: three runs instead of one) and
reports its wall time, the matrix size the probe chose and the FLOP/s it found. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

from attnlab.device import cpu_flags, device_name, peak_flops


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--repeats", type=int, default=3, help="measurements per dtype")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cpu = torch.device("cpu")
    flags = sorted({f for f in cpu_flags() if f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16")})
    print(f"CPU: {device_name(cpu)} ({', '.join(flags)}), {torch.get_num_threads()} threads, "
          f"load average {os.getloadavg()[0]:.1f}; torch {torch.__version__}")
    for dtype in ("fp32", "bf16"):
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory() as folder:
                t0 = time.perf_counter()
                peak = peak_flops(cpu, dtype, cache=Path(folder) / "peak.json")
                wall = time.perf_counter() - t0
            print(f"  {dtype}: {wall:.2f} s, {peak.flops / 1e9:.0f} GFLOP/s ({peak.source.split(', cached')[0]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
