"""What named points cost: a training step with nothing recorded vs the code before them, and
what recording costs in a forward pass.

1. Training step (forward, loss, backward, clip, AdamW step) of the `cpu` preset's model (4 layers,
   4 heads, width 128, 64 tokens, batch 12, vocab 77): this working tree vs `--baseline`, a git
   revision from before the named points (extracted with `git archive` and loaded in the same
   process beside this one). The two models start from the same weights and take turns step by
   step (who goes first alternates), so drift on a shared machine hits both alike. Reported: each
   side's median ms/step, their ratio, and the median of the step-by-step ratios (target <= 1.02).
2. The points a forward passes through, times the cost of passing one with nothing attached.
3. Forward pass (inference mode) of the same model at batch 12: nothing recorded,
   `record(model, "blocks.*.out")` (SDPA kept), `record(model, "**")` (every point; attention takes
   the explicit path), interleaved, medians.

    PYTHONPATH=src python benchmarks/hooks_overhead.py --steps 400
"""

from __future__ import annotations

import argparse
import importlib
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


def extract(revision: str, into: Path) -> Path:
    """src/ of `revision`, unpacked under `into`; returns the folder that holds the package."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision, "src"], check=True,
                             capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def load_gpt(src: Path):
    """(GPT, GPTConfig) of the attnlab package in `src`, loaded beside the one already imported:
    its modules are imported under the name `attnlab`, kept alive by the classes, then taken out
    of sys.modules again (GPT.forward imports nothing when called, so the two never mix)."""
    ours = {k: m for k, m in sys.modules.items() if k == "attnlab" or k.startswith("attnlab.")}
    for k in ours:
        del sys.modules[k]
    sys.path.insert(0, str(src))
    try:
        package = importlib.import_module("attnlab")
        return package.GPT, package.GPTConfig
    finally:
        sys.path.remove(str(src))
        for k in [k for k in sys.modules if k == "attnlab" or k.startswith("attnlab.")]:
            del sys.modules[k]
        sys.modules.update(ours)


def trainer(gpt_class, config_class, state: dict | None):
    """A fresh model (weights from `state` if given) and a function doing one training step on it."""
    torch.manual_seed(0)
    model = gpt_class(config_class(**SHAPE)).train()
    if state is not None:
        model.load_state_dict(state)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def step(data: torch.Tensor) -> None:
        _, loss = model(data[:, :-1], targets=data[:, 1:])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    return model, step


def training_step(args: argparse.Namespace) -> None:
    from attnlab import GPT, GPTConfig

    with tempfile.TemporaryDirectory() as tmp:
        old_gpt, old_config = load_gpt(extract(args.baseline, Path(tmp)))
    model, ours = trainer(GPT, GPTConfig, None)
    _, baseline = trainer(old_gpt, old_config, model.state_dict())
    g = torch.Generator().manual_seed(0)
    batches = [torch.randint(0, SHAPE["vocab_size"], (BATCH, SHAPE["max_seq_len"] + 1), generator=g)
               for _ in range(8)]
    times: dict[str, list[float]] = {"baseline": [], "ours": []}
    for i in range(args.warmup + args.steps):
        pair = [("baseline", baseline), ("ours", ours)]
        for name, step in pair if i % 2 == 0 else pair[::-1]:  # alternate who goes first
            start = time.perf_counter()
            step(batches[i % len(batches)])
            if i >= args.warmup:
                times[name].append(time.perf_counter() - start)
    base, mine = statistics.median(times["baseline"]), statistics.median(times["ours"])
    paired = statistics.median(b / a for a, b in zip(times["baseline"], times["ours"]))
    print(f"training step, B={BATCH} T={SHAPE['max_seq_len']}, {torch.get_num_threads()} thread(s), "
          f"{args.steps} steps each, taking turns")
    print(f"  baseline {args.baseline}:              {base * 1e3:7.2f} ms/step (median)")
    print(f"  named points, nothing recorded: {mine * 1e3:7.2f} ms/step (median)")
    print(f"  ratio of medians {mine / base:.3f}, median of step-by-step ratios {paired:.3f} (target <= 1.02)")


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
        for i in range(args.warmup + args.steps // 4):
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
    p.add_argument("--steps", type=int, default=400, help="timed training steps per side (forwards: a quarter)")
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 is steadiest on a shared machine)")
    p.add_argument("--skip-training", action="store_true", help="only the forward-pass figures")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if not args.skip_training:
        training_step(args)
    point_call_cost()
    forward_cost(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
