"""Two source trees of attnlab, measured in turns: generation and training throughput, new / base.

    git worktree add /tmp/base <commit>          # the tree to compare against
    python benchmarks/before_after.py --base /tmp/base/src [--new src] [--rounds 5] [--threads 2]

Each measurement runs in a fresh Python process whose `attnlab` comes from one tree (PYTHONPATH);
the rounds alternate the trees (base, new, new, base, ...), so a busy spell hits both alike.
- generation: batch 1, a 1-token prompt, 500 greedy tokens of a 4-layer, 4-head, 128-wide GPT with
  1024 positions and GPT-2's vocabulary (benchmarks/generation.py's model), by the path
  `attnlab generate` takes (`attnlab.fast.generate` where the tree has it, else `GPT.generate`);
- training: the `cpu` preset's model and batch (65-token vocabulary), AdamW as `attnlab train`
  configures it, 30 timed steps after 5 warm-up steps of the one loop's `train_step`, fp32.
A figure is the median over rounds; a ratio is the median of the rounds' new / base ratios.
Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

GENERATION = r"""
import json, time, torch
torch.set_num_threads({threads})
from attnlab import GPT, GPTConfig
try:
    from attnlab.fast import generate
except ImportError:
    generate = lambda model, *a, **k: model.generate(*a, **k)
torch.manual_seed(0)
model = GPT(GPTConfig(vocab_size=50257, max_seq_len=1024, d_model=128, n_heads=4, n_layers=4)).eval()
prompt = torch.zeros(1, 1, dtype=torch.long)
generate(model, prompt, 20, temperature=0.0)
t0 = time.perf_counter()
generate(model, prompt, 500, temperature=0.0)
print(json.dumps(500 / (time.perf_counter() - t0)))
"""

TRAINING = r"""
import json, time, torch
torch.set_num_threads({threads})
from attnlab.config import preset_config
from attnlab.model.gpt import GPT
from attnlab.train.gpt import configure_optimizer
from attnlab.train.loop import train_step
try:
    from attnlab.fast.attention import use_for_training
except ImportError:
    use_for_training = lambda model: None
cfg = preset_config("cpu", dtype="fp32")
torch.manual_seed(0)
model = GPT(cfg.model_config(65)).train()
use_for_training(model)
optimizer = configure_optimizer(model, cfg, torch.device("cpu"))
g = torch.Generator().manual_seed(0)
data = torch.randint(0, 65, (100_000,), generator=g)

def batch():
    i = torch.randint(0, len(data) - cfg.block_size - 1, (cfg.batch_size,), generator=g)
    x = torch.stack([data[j:j + cfg.block_size] for j in i])
    y = torch.stack([data[j + 1:j + 1 + cfg.block_size] for j in i])
    return x, y

loss = lambda model, b: model(*b)[1]
for _ in range(5):
    train_step(model, optimizer, batch, loss, lr=1e-3)
t0 = time.perf_counter()
for _ in range(30):
    train_step(model, optimizer, batch, loss, lr=1e-3)
print(json.dumps(30 * cfg.batch_size * cfg.block_size / (time.perf_counter() - t0)))
"""


def measure(tree: Path, code: str, threads: int) -> float:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run([sys.executable, "-c", code.format(threads=threads)], env=env, capture_output=True,
                         text=True, check=True, cwd=tree)
    return float(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", type=Path, required=True, help="the src/ folder of the tree to compare against")
    parser.add_argument("--new", type=Path, default=Path(__file__).resolve().parents[1] / "src")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    with open("/proc/cpuinfo") if os.path.exists("/proc/cpuinfo") else open(os.devnull) as f:
        cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "unknown CPU")
    print(f"{cpu}; {args.threads} threads; base {args.base}, new {args.new}")
    for name, code, unit in (("generation", GENERATION, "tokens/s"), ("training", TRAINING, "tokens/s")):
        rates: dict[str, list[float]] = {"base": [], "new": []}
        for r in range(args.rounds):
            order = ("base", "new") if r % 2 == 0 else ("new", "base")
            for which in order:
                rates[which].append(measure(args.base if which == "base" else args.new, code, args.threads))
        ratios = [n / b for n, b in zip(rates["new"], rates["base"])]
        print(f"{name}: base {statistics.median(rates['base']):,.0f} {unit}, new {statistics.median(rates['new']):,.0f} "
              f"{unit}, new/base median {statistics.median(ratios):.3f} (rounds: {', '.join(f'{x:.3f}' for x in ratios)})")
        print("  " + json.dumps({k: [round(x) for x in v] for k, v in rates.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
