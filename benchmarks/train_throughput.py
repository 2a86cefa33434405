"""Training throughput of nanoGPT's CPU recipe: attnlab vs the same GPT written plainly vs Hugging Face.

    python benchmarks/train_throughput.py                   # tokens/s, interleaved, 2 threads
    python benchmarks/train_throughput.py --compile         # + the torch.compile settings (minutes)
    python benchmarks/train_throughput.py --only-full       # command -> sample: 2000-iteration runs

The model is the `cpu` preset's (4 layers, 4 heads, width 128, block 64, batch 12, char vocabulary).
Rows, all in this one process, on the same batches:
- plain: the GPT and step of `plain_gpt.py`, nanoGPT's choices (the stand-in for nanoGPT);
- Hugging Face `GPT2LMHeadModel` with attnlab's default model's weights (checked equal), plain step;
- attnlab: `setup_gpt_run` and `train_step`, the code `attnlab train` runs, with the flags shown.
The rows take turns, round after round; a row's figure is its median over rounds, its ratio the
median of its per-round ratios to the plain row (the machine may be shared: a busy spell hits
the rows of one round alike). "first steps" is setup plus three steps: torch.compile compiles there.

--full runs `attnlab train` itself for 2000 iterations per setting, one after the other, and
reports the wall time from the command to the end of the printed sample, and the final val loss.
Nothing is asserted: this prints figures for benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import torch

from _common import hf_twin
from plain_gpt import PlainGPT, plain_step

from attnlab.config import preset_config
from attnlab.train.data import get_batch, load_corpus
from attnlab.device import cache_dir, flops_per_token, peak_flops
from attnlab.distributed import DistInfo
from attnlab.model.gpt import GPT
from attnlab.tokenizers import build_tokenizer
from attnlab.train.gpt import encode_corpus, next_token_loss, setup_gpt_run
from attnlab.train.loop import train_step

Step = Callable[[torch.Tensor, torch.Tensor], float]
FLAGS = {"": {}, "--dtype fp32": {"dtype": "fp32"}, "--dtype bf16": {"dtype": "bf16"},
         "--activation gelu_tanh": {"activation": "gelu_tanh"}, "--compile": {"compile": True},
         "--dtype bf16 --compile": {"dtype": "bf16", "compile": True}}


class HFLoss(torch.nn.Module):
    """GPT2LMHeadModel with our call signature: (idx, targets) -> (logits, loss)."""

    def __init__(self, hf):
        super().__init__()
        self.hf = hf

    def forward(self, idx, targets):
        logits = self.hf(input_ids=idx).logits  # (B, T, V)
        return logits, torch.nn.functional.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1))


def attnlab_step(vocab_size: int, flags: str) -> Step:
    """One `attnlab train` step with these flags (its model, optimizer, autocast, clipping)."""
    cfg = preset_config("cpu", **FLAGS[flags])
    run = setup_gpt_run(cfg, vocab_size, Path(tempfile.gettempdir()), resume=False, dist=DistInfo())
    run.model.train()

    def step(x: torch.Tensor, y: torch.Tensor) -> float:
        return train_step(run.model, run.optimizer, lambda: (x, y), next_token_loss, lr=cfg.learning_rate,
                          grad_clip=cfg.grad_clip, precision=run.precision, scaler=run.scaler)

    return step


def settings(vocab_size: int, args) -> dict[str, tuple[Callable[[], Step], int]]:
    """name -> (a function that builds the step, torch threads)."""
    cfg = preset_config("cpu")
    shape = (vocab_size, cfg.block_size, cfg.d_model, cfg.n_heads, cfg.n_layers)

    def hf() -> Step:
        torch.manual_seed(cfg.seed)
        return plain_step(HFLoss(hf_twin(GPT(cfg.model_config(vocab_size)))).train())

    rows = {"plain PyTorch, nanoGPT's choices": (lambda: plain_step(PlainGPT(*shape)), args.threads),
            "Hugging Face GPT2LMHeadModel": (hf, args.threads)}
    # "": auto (bf16 where the CPU has it natively) and nanoGPT's exact GELU; gelu_tanh is GPT-2's
    flags = ["", "--dtype fp32", "--dtype bf16", "--activation gelu_tanh"] + (
        ["--compile", "--dtype bf16 --compile"] if args.compile else [])
    for f in flags:
        rows[f"attnlab train {f}".strip()] = (lambda f=f: attnlab_step(vocab_size, f), args.threads)
    if args.one_thread_row:  # the default on one thread: on a busy machine it can win
        rows["attnlab train --threads 1"] = (lambda: attnlab_step(vocab_size, ""), 1)
    return rows


def check_hf_is_our_model(vocab_size: int, x: torch.Tensor) -> None:
    ours = GPT(preset_config("cpu").model_config(vocab_size))
    torch.testing.assert_close(hf_twin(ours)(input_ids=x).logits, ours(x)[0], rtol=1e-4, atol=1e-4)


def throughput(args) -> None:
    cfg = preset_config("cpu")
    text = load_corpus(cfg.corpus)
    tokenizer = build_tokenizer("char", text)
    train_data, _ = encode_corpus(text, tokenizer, cfg)
    generator = torch.Generator().manual_seed(0)
    batches = [get_batch(train_data, cfg.batch_size, cfg.block_size, generator) for _ in range(args.steps)]
    check_hf_is_our_model(tokenizer.vocab_size, batches[0][0])
    steps, threads, first = {}, {}, {}
    for name, (build, n_threads) in settings(tokenizer.vocab_size, args).items():
        torch.set_num_threads(n_threads)
        t0 = time.perf_counter()
        steps[name], threads[name] = build(), n_threads
        for x, y in batches[:3]:
            steps[name](x, y)
        first[name] = time.perf_counter() - t0
        print(f"first steps  {name}: {first[name]:.1f} s", flush=True)
    rates = run_rounds(steps, threads, batches, args.rounds, cfg.batch_size * cfg.block_size)
    report(rates, first, threads, GPT(cfg.model_config(tokenizer.vocab_size)), args)


def run_rounds(steps: dict[str, Step], threads: dict[str, int], batches, rounds: int,
               tokens: int) -> dict[str, list[float]]:
    """tokens/s of each row in each round; the rows take turns within a round."""
    rates: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            torch.set_num_threads(threads[name])
            t0 = time.perf_counter()
            for x, y in batches:
                step(x, y)
            rates[name].append(tokens * len(batches) / (time.perf_counter() - t0))
    return rates


def report(rates: dict[str, list[float]], first: dict[str, float], threads: dict[str, int], model: GPT,
           args) -> None:
    """The table: median tokens/s, the median per-round ratio to the first row, MFU (model FLOPs of
    attnlab's default model for every row, against the cached matmul peak of the row's dtype and
    threads), setup + 3 steps."""
    c = model.config
    token_flops = flops_per_token(model.num_parameters(non_embedding=True), c.n_layers, c.n_heads, c.d_head,
                                  c.max_seq_len)
    base = next(iter(rates))
    print(f"\ntorch {torch.__version__}, {args.threads} thread(s) unless said, cpu preset model, batch 12 x "
          f"block 64, {args.rounds} rounds x {args.steps} steps, load average {os.getloadavg()[0]:.1f}")
    print(f"  {'setting':<58} {'tokens/s':>9} {'vs plain':>9} {'MFU':>6} {'first steps':>12}")
    for name, values in rates.items():
        torch.set_num_threads(threads[name])
        # attnlab's rows without --dtype train in what auto picks on this CPU (bf16 where native)
        dtype = "bf16" if "bf16" in name else "fp32" if "fp32" in name or not name.startswith("attnlab") else "auto"
        peak = peak_flops(torch.device("cpu"), dtype)
        rate, ratio = statistics.median(values), statistics.median(v / b for v, b in zip(values, rates[base]))
        print(f"  {name:<58} {rate:>9,.0f} {ratio:>8.2f}x {peak.mfu(rate * token_flops):>6.1%} "
              f"{first[name]:>10.1f} s")
    print("  MFU against: " + "; ".join(sorted({f"{k.split(', torch')[0]}: {v / 1e9:.0f} GFLOP/s" for k, v in
                                                 json.loads((cache_dir() / "peak.json").read_text()).items()})))


def full_runs(args) -> None:
    """2000 iterations of `attnlab train` per setting: wall time from the command to the sample."""
    out_dir = Path(tempfile.mkdtemp(prefix="attnlab-bench-"))
    for flags in ["", "--dtype fp32", "--activation gelu_tanh"] + (["--compile"] if args.compile else []):
        name = "bench" + re.sub(r"[^a-z0-9]+", "-", flags)
        command = [sys.executable, "-m", "attnlab", "train", "--out-dir", str(out_dir), "--name", name,
                   "--threads", str(args.threads), "--no-progress", *flags.split()]
        t0 = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        wall = time.perf_counter() - t0
        final = re.search(r"done: step (\d+), train loss ([\d.]+), val loss ([\d.]+), (\d+) s", done.stdout)
        print(f"attnlab train --threads {args.threads} {flags}: val loss {final.group(3)}, train loss "
              f"{final.group(2)}, training {final.group(4)} s, command to sample {wall:.0f} s", flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=20, help="steps per row per round (default: 20)")
    p.add_argument("--rounds", type=int, default=5, help="rounds (default: 5)")
    p.add_argument("--threads", type=int, default=2, help="torch threads (default: 2, the recipe's)")
    p.add_argument("--compile", action="store_true", help="also the torch.compile settings")
    p.add_argument("--one-thread-row", action="store_true", help="also the default on one thread")
    p.add_argument("--full", action="store_true", help="also the 2000-iteration runs")
    p.add_argument("--only-full", action="store_true", help="only the 2000-iteration runs")
    args = p.parse_args(argv)
    if not args.only_full:
        throughput(args)
    if args.full or args.only_full:
        full_runs(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
