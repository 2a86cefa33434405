"""Training on a busy machine: the default thread count (chosen from what other processes use) vs --threads 1 and 2.

    python benchmarks/busy_threads.py [--hogs 2] [--steps 10] [--rounds 5]

Starts `--hogs` CPU hogs (processes spinning in a loop, as other people's jobs would), picks the
threads as `attnlab train` does from the CPU time others used over `--wait` seconds, then times the `cpu` preset's training step (`setup_gpt_run` and
`train_step`, what `attnlab train` runs) with each thread setting in turn, round after round, in this
one process. Prints the median ms per step of each, its ratio to --threads 1, and the CPU and load.
Nothing is asserted.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from attnlab.config import preset_config
from attnlab.cli._cpu_use import others_busy, sample
from attnlab.device import cpu_flags, device_name, pick_threads
from attnlab.distributed import DistInfo
from attnlab.tokenizers import build_tokenizer
from attnlab.train.data import get_batch, load_corpus
from attnlab.train.gpt import encode_corpus, next_token_loss, setup_gpt_run
from attnlab.train.loop import train_step


def hog() -> None:
    while True:
        pass


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hogs", type=int, default=2)
    p.add_argument("--steps", type=int, default=10, help="steps per setting per round")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--wait", type=float, default=3.0, help="seconds over which the hogs' CPU use is measured")
    args = p.parse_args(argv)
    hogs = [multiprocessing.Process(target=hog, daemon=True) for _ in range(args.hogs)]
    for h in hogs:
        h.start()
    try:
        started = sample()
        time.sleep(args.wait)
        chosen, why = pick_threads(0, others=others_busy(started))
        cfg = preset_config("cpu")
        text = load_corpus(cfg.corpus)
        tokenizer = build_tokenizer("char", text)
        train_data, _ = encode_corpus(text, tokenizer, cfg)
        generator = torch.Generator().manual_seed(0)
        batches = [get_batch(train_data, cfg.batch_size, cfg.block_size, generator) for _ in range(args.steps)]
        run = setup_gpt_run(cfg, tokenizer.vocab_size, Path(tempfile.gettempdir()), resume=False, dist=DistInfo())
        run.model.train()
        settings = {f"default ({chosen}: {why})": chosen, "--threads 1": 1, "--threads 2": 2}
        times: dict[str, list[float]] = {name: [] for name in settings}
        for _ in range(args.rounds):
            for name, threads in settings.items():
                torch.set_num_threads(threads)
                t0 = time.perf_counter()
                for x, y in batches:
                    train_step(run.model, run.optimizer, lambda: (x, y), next_token_loss, lr=cfg.learning_rate,
                               grad_clip=cfg.grad_clip, precision=run.precision, scaler=run.scaler)
                times[name].append((time.perf_counter() - t0) / len(batches) * 1e3)
        flags = sorted({f for f in cpu_flags() if f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16")})
        print(f"CPU: {device_name(torch.device('cpu'))} ({', '.join(flags)}), {os.cpu_count()} CPUs, {args.hogs} "
              f"hogs, load average {os.getloadavg()[0]:.1f} at the end; torch {torch.__version__}")
        for name, values in times.items():
            ratio = statistics.median(a / b for a, b in zip(values, times["--threads 1"]))
            print(f"  {name:<60} {statistics.median(values):8.1f} ms/step  {ratio:5.2f}x the time of --threads 1")
    finally:
        for h in hogs:
            h.terminate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
