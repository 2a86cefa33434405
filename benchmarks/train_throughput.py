"""Training throughput of the `cpu` preset model, ours vs Hugging Face, in one process.

    python benchmarks/train_throughput.py                 # tokens/s: ours (fp32, bf16, compiled) vs HF
    python benchmarks/train_throughput.py --full          # + 2000-iteration runs: val loss and wall time

Every setting trains its own copy of the same initial weights on the same batches with the
same AdamW loop as `attnlab train` (fused AdamW, weight decay on 2-D weights, clip 1.0), so
only the model code and the settings differ. Settings take turns in rounds and the median round counts, because the
machine may be shared. Nothing is asserted: this prints figures for benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import torch

from _common import hf_twin
from pathlib import Path

from attnlab.runfolder import open_run_folder
from attnlab.config import preset_config
from attnlab.data import get_batch, load_corpus
from attnlab.model.gpt import GPT
from attnlab.tokenizers import build_tokenizer
from attnlab.train import configure_optimizer, encode_corpus, estimate_loss, train


class HFLoss(torch.nn.Module):
    """Same call signature as our GPT: (idx, targets) -> (logits, loss)."""

    def __init__(self, hf):
        super().__init__()
        self.hf = hf

    def forward(self, idx, targets):
        logits = self.hf(input_ids=idx).logits  # (B, T, V)
        loss = torch.nn.functional.cross_entropy(logits.view(-1, logits.shape[-1]).float(), targets.view(-1))
        return logits, loss


def make_step(model, cfg, dtype: str, fused: bool = True):
    optimizer = configure_optimizer(model, cfg, torch.device("cpu"))  # fused on CPU, as `attnlab train`
    if not fused:  # the same AdamW with the default (foreach) kernel
        optimizer = torch.optim.AdamW(optimizer.param_groups, lr=cfg.learning_rate, betas=(cfg.beta1, cfg.beta2))
    ctx = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if dtype == "bf16" else contextlib.nullcontext

    def step(x, y) -> float:
        with ctx():
            _, loss = model(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss.item()

    return step


def throughput(args) -> None:
    cfg = preset_config("cpu")
    text = load_corpus("shakespeare")
    tokenizer = build_tokenizer("char", text)
    train_data, _ = encode_corpus(text, tokenizer, cfg)
    generator = torch.Generator().manual_seed(0)
    batches = [get_batch(train_data, cfg.batch_size, cfg.block_size, generator) for _ in range(args.steps)]
    torch.manual_seed(cfg.seed)
    base = GPT(cfg.model_config(tokenizer.vocab_size))
    hf = hf_twin(base)
    x, y = batches[0]
    torch.testing.assert_close(hf(input_ids=x).logits, base(x)[0], rtol=1e-4, atol=1e-4)  # same function

    def ours(compiled: bool):
        model = GPT(base.config)
        model.load_state_dict(base.state_dict())
        return torch.compile(model) if compiled else model

    settings = {
        "ours fp32 eager": (ours(False), "fp32"),
        "ours bf16 eager": (ours(False), "bf16"),
        "ours fp32 compile": (ours(True), "fp32"),
        "ours bf16 compile": (ours(True), "bf16"),
        "ours bf16 compile, unfused AdamW": (ours(True), "bf16"),
        "HF GPT2LMHeadModel fp32": (HFLoss(hf_twin(base)), "fp32"),
        "HF GPT2LMHeadModel bf16": (HFLoss(hf_twin(base)), "bf16"),
    }
    steps = {name: make_step(model, cfg, dtype, fused="unfused" not in name)
             for name, (model, dtype) in settings.items()}
    tokens = cfg.batch_size * cfg.block_size
    for name, step in steps.items():  # warm-up (torch.compile compiles here)
        t0 = time.perf_counter()
        for x, y in batches[:3]:
            step(x, y)
        print(f"warm-up {name}: {time.perf_counter() - t0:.1f} s", flush=True)
    rates: dict[str, list[float]] = {name: [] for name in steps}
    for r in range(args.rounds):
        for name, step in steps.items():
            t0 = time.perf_counter()
            for x, y in batches:
                step(x, y)
            rates[name].append(tokens * len(batches) / (time.perf_counter() - t0))
    hf_rate = statistics.median(rates["HF GPT2LMHeadModel fp32"])
    print(f"\ntorch {torch.__version__}, {torch.get_num_threads()} thread(s), cpu preset model "
          f"({base.num_parameters():,} parameters), batch {cfg.batch_size} x block {cfg.block_size}, "
          f"{args.rounds} rounds x {args.steps} steps, median tokens/s:")
    for name, values in rates.items():
        rate = statistics.median(values)
        print(f"  {name:<26} {rate:>9,.0f} tok/s   {rate / hf_rate:5.2f}x HF fp32")


def full_runs(args) -> None:
    """2000 iterations of the cpu preset (fp32, and the fastest setting) and the seed preset."""
    text = load_corpus("shakespeare")
    tokenizer = build_tokenizer("char", text)
    runs = [("cpu", dict(dtype="fp32")), ("cpu", dict(dtype=args.fast_dtype, compile=args.fast_compile)),
            ("seed", dict(dtype="fp32"))]
    for preset, overrides in runs:
        cfg = preset_config(preset, **overrides)
        train_data, val_data = encode_corpus(text, tokenizer, cfg)
        run_dir = f"{args.out_dir}/bench-{preset}-{cfg.dtype}{'-compile' if cfg.compile else ''}"
        with open_run_folder(Path(run_dir), "overwrite"):
            result = train(cfg, train_data, val_data, tokenizer, run_dir)
        precise = estimate_loss(result.model, {"val": val_data}, cfg.batch_size, cfg.block_size, 500, seed=123,
                                dtype=cfg.dtype)
        print(f"{preset:<5} {cfg.dtype} compile={cfg.compile}: val loss {result.last_losses['val']:.4f} "
              f"(eval_iters {cfg.eval_iters}), {precise['val']:.4f} (500 batches), "
              f"train loss {result.last_losses['train']:.4f}, wall {result.elapsed_s:.0f} s", flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=20, help="steps per setting per round")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    p.add_argument("--full", action="store_true", help="also the 2000-iteration runs")
    p.add_argument("--only-full", action="store_true", help="only the 2000-iteration runs")
    p.add_argument("--fast-dtype", default="bf16")
    p.add_argument("--fast-compile", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--out-dir", default="runs")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.only_full:
        throughput(args)
    if args.full or args.only_full:
        full_runs(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
