"""A busy machine: each command with no flags (threads decided from what other processes use) vs --threads 1.

    python benchmarks/busy_threads.py --part commands [--hogs 2] [--rounds 3]   # generate, attention, sae, ladder
    python benchmarks/busy_threads.py [--hogs 2] [--steps 10] [--rounds 5]       # the training step (--part step)

Starts `--hogs` CPU hogs (processes spinning in a loop, as other people's jobs would).

--part commands: first (before the hogs) trains a small run of the `cpu` preset with
`attnlab.train_run`, then times each command as a user runs it, `python -m attnlab ...` in a new
process (its start-up, its own runtime decision), once with no flags and once with --threads 1,
in interleaved rounds (the order of the two alternates). Prints the median seconds of each, the
median of the per-round ratios (no flags / --threads 1; the goal is at most 1.3) and the CPU.

--part step: picks the threads as `attnlab.runtime.decision.decide` does from the CPU time others
used over `--wait` seconds, then times the `cpu` preset's training step (`setup_gpt_run` and
`train_step`, what `attnlab train` runs) with each thread setting in turn, round after round, in
this one process. Prints the median ms per step of each and its ratio to --threads 1.

Nothing is asserted.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from attnlab.config import preset_config
from attnlab.device import cpu_flags, device_name
from attnlab.distributed import DistInfo
from attnlab.runtime.cpu_use import others_busy, sample
from attnlab.runtime.decision import decide
from attnlab.train.data import get_batch
from attnlab.train.gpt import next_token_loss, setup_gpt_run
from attnlab.train.loop import train_step
from attnlab.train.run import prepare_data, train_run

COMMANDS = ("generate", "attention", "sae", "ladder")


def hog() -> None:
    while True:
        pass


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--part", choices=("step", "commands"), default="step")
    p.add_argument("--hogs", type=int, default=2)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=10, help="step: steps per setting per round")
    p.add_argument("--wait", type=float, default=3.0, help="step: seconds over which the hogs' CPU use is measured")
    p.add_argument("--commands", default=",".join(COMMANDS), help="commands: which of them, comma-separated")
    args = p.parse_args(argv)
    workspace = Path(tempfile.mkdtemp(prefix="busy-threads-"))
    try:
        work = prepare_commands(workspace, args.commands.split(",")) if args.part == "commands" else None
        hogs = [multiprocessing.Process(target=hog, daemon=True) for _ in range(args.hogs)]
        for h in hogs:
            h.start()
        try:
            print_cpu(args.hogs)
            if work is None:
                measure_step(args)
            else:
                measure_commands(work, workspace, args.rounds)
        finally:
            for h in hogs:
                h.terminate()
    finally:
        shutil.rmtree(workspace, ignore_errors=True)
    return 0


def print_cpu(hogs: int) -> None:
    flags = sorted({f for f in cpu_flags() if f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16")})
    print(f"CPU: {device_name(torch.device('cpu'))} ({', '.join(flags)}), {os.cpu_count()} CPUs, {hogs} hogs, "
          f"load average {os.getloadavg()[0]:.1f} at the start; torch {torch.__version__}", flush=True)


# --- the commands, as a user runs them ----------------------------------------------------------

def prepare_commands(workspace: Path, names: list[str]) -> dict[str, list[str]]:
    """A run of the `cpu` preset (trained before the hogs start) and each command's arguments."""
    unknown = sorted(set(names) - set(COMMANDS))
    if unknown:
        raise SystemExit(f"unknown command(s) {', '.join(unknown)}; choose from {', '.join(COMMANDS)}")
    run = workspace / "runs" / "cpu"
    train_run(preset_config("cpu", max_iters=50, eval_interval=50, eval_iters=5), run)
    sae = ["sae", "--run", str(run), "--steps", "200", "--tokens", "8192", "--eval-tokens", "2048"]
    work = {"generate": ["generate", "--run", str(run), "--max-new-tokens", "300"],
            "attention": ["attention", "To be, or not to be, that is the question", "--run", str(run)],
            "sae": [*sae, "--overwrite"],
            "ladder": ["ladder", "--steps", "100", "--eval-iters", "20", "--no-progress", "--out-dir"]}
    subprocess.run([sys.executable, "-m", "attnlab", *sae], check=True, stdout=subprocess.DEVNULL)  # so --overwrite
    return {name: work[name] for name in names}


def time_command(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "attnlab", *argv], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def measure_commands(work: dict[str, list[str]], workspace: Path, rounds: int) -> None:
    """Interleaved rounds: each command with no flags and with --threads 1, the order alternating."""
    settings = {"no flags": [], "--threads 1": ["--threads", "1"]}
    times = {name: {setting: [] for setting in settings} for name in work}
    for r in range(rounds):
        order = list(settings) if r % 2 == 0 else list(settings)[::-1]
        for name, argv in work.items():
            for setting in order:
                extra = [str(workspace / f"ladder-{r}-{len(times[name][setting])}-{setting[-1]}")] \
                    if name == "ladder" else []  # a fresh ladder folder: a finished one would be reused
                times[name][setting].append(time_command([*argv, *extra, *settings[setting]]))
        print(f"  round {r + 1}/{rounds} done, load average {os.getloadavg()[0]:.1f}", flush=True)
    for name, by in times.items():
        ratio = statistics.median(a / b for a, b in zip(by["no flags"], by["--threads 1"]))
        print(f"  {name:<10} no flags {statistics.median(by['no flags']):7.1f} s   --threads 1 "
              f"{statistics.median(by['--threads 1']):7.1f} s   ratio {ratio:5.2f}x  "
              f"({'within' if ratio <= 1.3 else 'above'} 1.3x)")


# --- the training step, in this process ---------------------------------------------------------

def measure_step(args: argparse.Namespace) -> None:
    started = sample()
    time.sleep(args.wait)
    chosen = decide("cpu", "auto", others=others_busy(started))
    cfg = preset_config("cpu")
    data = prepare_data(cfg, Path(tempfile.gettempdir()), resume=False)  # the corpus as train_run reads it
    generator = torch.Generator().manual_seed(0)
    batches = [get_batch(data.train, cfg.batch_size, cfg.block_size, generator) for _ in range(args.steps)]
    run = setup_gpt_run(cfg, data.tokenizer.vocab_size, Path(tempfile.gettempdir()), resume=False, dist=DistInfo(),
                        runtime=chosen)
    run.model.train()
    settings = {f"default ({chosen.lines[1]})": chosen.threads, "--threads 1": 1, "--threads 2": 2}
    times: dict[str, list[float]] = {name: [] for name in settings}
    for _ in range(args.rounds):
        for name, threads in settings.items():
            torch.set_num_threads(threads)
            t0 = time.perf_counter()
            for x, y in batches:
                train_step(run.model, run.optimizer, lambda: (x, y), next_token_loss, lr=cfg.learning_rate,
                           grad_clip=cfg.grad_clip, precision=run.precision, scaler=run.scaler)
            times[name].append((time.perf_counter() - t0) / len(batches) * 1e3)
    for name, values in times.items():
        ratio = statistics.median(a / b for a, b in zip(values, times["--threads 1"]))
        print(f"  {name:<60} {statistics.median(values):8.1f} ms/step  {ratio:5.2f}x the time of --threads 1")


if __name__ == "__main__":
    sys.exit(main())
