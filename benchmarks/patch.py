"""Wall time of `attnlab patch` (exact and attribution) and `attnlab attribute` on 64 tokens, and how
well attribution patching tracks exact patching on the resid table.

Targets on the default run (4 layers, 4 heads, 64 positions): `patch --points resid,attn,mlp,heads`
<= 10 s, `patch --method attribution` <= 2 s, `attribute` <= 2 s, each a whole command (a fresh
`python -m attnlab` process: interpreter start, imports, loading the run). The run is copied to a
temporary folder first: nothing is written near the original. The three commands are run in turn,
`--repeats` rounds, and the median of each is reported (a shared machine: medians of interleaved
runs); the work itself is also timed in this process.

    python benchmarks/patch.py --run runs/cpu-shakespeare-char [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

# 64 characters of the play, and the same with one character changed 2 places from the end:
# "you" -> "so " as the next word (the README's example, longer)
CLEAN = "Farewell, gentle Kate; I must not have you henceforth; I know yo"
CORRUPT = "Farewell, gentle Kate; I must not have you henceforth; I know so"
TARGETS = {"exact": 10.0, "attribution": 2.0, "attribute": 2.0}
START = ["-c", "import torch, attnlab.cli, attnlab.runs.checkpoint"]  # what every command pays before its work


def commands(run: str) -> dict[str, list[str]]:
    patch = ["-m", "attnlab", "patch", "--run", run, "--clean", CLEAN, "--corrupt", CORRUPT, "--json"]
    return {"exact": [*patch, "--points", "resid,attn,mlp,heads"],
            "attribution": [*patch, "--points", "resid,attn,mlp,heads", "--method", "attribution"],
            "attribute": ["-m", "attnlab", "attribute", CLEAN, "--run", run, "--json"]}


def wall(args: list[str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one fresh `python ARGS` process; CPU is its user + system time (on a
    shared machine the wall time also counts waiting for a core)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([p for p in sys.path if p]))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, *args], check=True, stdout=subprocess.DEVNULL, env=env)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return elapsed, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def in_process(run: str) -> None:
    """The work alone, one thread (the commands' default), and the correlation on resid."""
    from attnlab.runs.checkpoint import load_model
    from attnlab.why.attribute import logit_attribution
    from attnlab.why.logit_diff import make_pair
    from attnlab.why.patch import patch_tables
    from attnlab.why.patch_gradient import attribution_tables, correlation

    torch.set_num_threads(1)
    model, tok = load_model(run)
    model.eval()
    pair = make_pair(model, torch.tensor([tok.encode(CLEAN)]), torch.tensor([tok.encode(CORRUPT)]))
    points = ["resid", "attn", "mlp", "heads"]
    start = time.perf_counter()
    exact = patch_tables(model, pair, points)
    t_exact = time.perf_counter() - start
    start = time.perf_counter()
    grad = attribution_tables(model, pair, points)
    t_grad = time.perf_counter() - start
    start = time.perf_counter()
    logit_attribution(model, pair.clean, pair.position, pair.answer, pair.wrong)
    t_dla = time.perf_counter() - start
    cells = sum(len(r) for p in points for r in exact[p])
    print(f"  in process: exact patching {t_exact:.2f} s ({cells} cells), attribution {t_grad:.3f} s, "
          f"attribute {t_dla:.3f} s")
    print(f"  answer {tok.decode([pair.answer])!r} vs {tok.decode([pair.wrong])!r}: LD clean "
          f"{exact['ld_clean']:+.3f}, corrupt {exact['ld_corrupt']:+.3f}")
    for point in points:
        print(f"  correlation of attribution with exact patching, {point} ({len(exact[point])} x "
              f"{len(exact[point][0])}): {correlation(exact[point], grad[point]):.3f}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--run", required=True, help="a GPT run folder (the default run: runs/cpu-shakespeare-char)")
    p.add_argument("--repeats", type=int, default=5, help="rounds of the three commands")
    args = p.parse_args(argv)
    with open("/proc/cpuinfo", encoding="utf-8") as f:
        cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "?")
    print(f"CPU {cpu}; load average {os.getloadavg()[0]:.2f} at the start")
    with tempfile.TemporaryDirectory() as tmp:
        run = str(Path(tmp) / Path(args.run).name)
        shutil.copytree(args.run, run)
        in_process(run)
        times = {name: [] for name in [*TARGETS, "start"]}
        for _ in range(args.repeats):
            for name, command in {**commands(run), "start": START}.items():
                times[name].append(wall(command))
        for name in times:
            walls, cpus = [w for w, _ in times[name]], [c for _, c in times[name]]
            median = statistics.median(walls)
            verdict = (f", target <= {TARGETS[name]:.0f} s: {'met' if median <= TARGETS[name] else 'MISSED'}"
                       if name in TARGETS else " (python, import torch and attnlab: no work)")
            print(f"  {name:<12} median wall {median:.2f} s, CPU {statistics.median(cpus):.2f} s of {args.repeats} "
                  f"(fastest wall {min(walls):.2f}){verdict}")
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
