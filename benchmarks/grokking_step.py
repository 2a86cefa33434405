"""Where a grokking step's time goes: forward, backward, the optimiser, an evaluation.

    PYTHONPATH=src python benchmarks/grokking_step.py                    # the fast preset
    PYTHONPATH=src python benchmarks/grokking_step.py --preset paper --rounds 3

Compared in one process, interleaved round by round (the machine is shared), medians reported:
    full       the logits of all three positions, the loss on the last (what a plain forward does)
    last_only  `GPT.forward(last_only=True)`: the last block's query, feed-forward layer and
               logits at '=' only (what the lab trains with)
each in fp32 and under bf16 autocast (only where the CPU has native bf16), at 1 and 2 threads
(--threads).
Also timed: one evaluation (`measure`: every pair's logits, the Fourier measures) and one
checkpoint. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time

import torch
import torch.nn.functional as F

from attnlab.cli.grokking import PRESETS
from attnlab.device import cpu_has_bf16, device_name
from attnlab.labs.grokking.config import GrokConfig
from attnlab.labs.grokking.lab import Task, answer_loss, measure
from attnlab.model.gpt import GPT
from attnlab.runs import checkpoint as ckpt
from attnlab.train.gpt import configure_optimizer


def full_loss(model: GPT, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    inputs, labels = batch
    logits, _ = model(inputs)  # (B, 3, V): every position
    return F.cross_entropy(logits[:, -1].float(), labels)


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def step_parts(model, optimizer, loss_fn, batch, precision) -> dict[str, float]:
    """One training step, in its three parts (seconds)."""
    out = {}
    with precision:
        t0 = time.perf_counter()
        loss = loss_fn(model, batch)
        out["forward"] = time.perf_counter() - t0
    out["backward"] = timed(loss.backward)
    out["optimizer"] = timed(lambda: (optimizer.step(), optimizer.zero_grad(set_to_none=True)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="fast")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (medians reported)")
    parser.add_argument("--steps", type=int, default=10, help="steps timed per variant and round")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts compared")
    args = parser.parse_args()
    cfg = GrokConfig(**PRESETS[args.preset])
    task = Task.make(cfg)
    batch = (task.inputs[task.is_train], task.labels[task.is_train])
    torch.manual_seed(0)
    model = GPT(cfg.model_config())
    optimizer = configure_optimizer(model, cfg.train_config(), torch.device("cpu"))
    precisions = {"fp32": contextlib.nullcontext}
    if cpu_has_bf16():
        precisions["bf16"] = lambda: torch.autocast("cpu", dtype=torch.bfloat16)
    variants = [(threads, path, name) for threads in args.threads for path in ("full", "last_only")
                for name in precisions]
    times = {v: {"forward": [], "backward": [], "optimizer": []} for v in variants}
    evals, saves = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):
            for threads, path, name in variants:
                torch.set_num_threads(threads)
                loss_fn = full_loss if path == "full" else answer_loss
                step_parts(model, optimizer, loss_fn, batch, precisions[name]())  # warm-up
                parts = [step_parts(model, optimizer, loss_fn, batch, precisions[name]()) for _ in range(args.steps)]
                for key in times[(threads, path, name)]:
                    times[(threads, path, name)][key].append(statistics.median(p[key] for p in parts))
            torch.set_num_threads(args.threads[0])
            evals.append(timed(lambda: measure(model, task)))
            saves.append(timed(lambda: ckpt.save_checkpoint(
                tmp, model, ckpt.training_state(optimizer, torch.device("cpu")), {"step": 1})))
    print(f"preset {args.preset}: p {cfg.p}, {len(batch[1])} training sequences of 3 tokens, "
          f"{args.rounds} rounds x {args.steps} steps, medians in ms")
    print(f"{'threads':>7} {'path':>10} {'dtype':>5} {'forward':>8} {'backward':>8} {'optim':>7} {'step':>7}")
    for (threads, path, name), t in times.items():
        parts = {k: 1000 * statistics.median(v) for k, v in t.items()}
        print(f"{threads:>7} {path:>10} {name:>5} {parts['forward']:8.1f} {parts['backward']:8.1f} "
              f"{parts['optimizer']:7.1f} {sum(parts.values()):7.1f}")
    print(f"one evaluation (every pair's logits + the Fourier measures, {args.threads[0]} thread(s)): "
          f"{1000 * statistics.median(evals):.1f} ms; "
          f"one checkpoint: {1000 * statistics.median(saves):.1f} ms (each every eval_interval = {cfg.eval_interval} steps)")
    print(f"CPU {device_name(torch.device('cpu'))}")


if __name__ == "__main__":
    main()
