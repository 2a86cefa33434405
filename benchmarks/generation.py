"""Generation speed: attnlab's KV-cached decoding vs Hugging Face GPT-2 `generate` vs nanoGPT's loop.

    python benchmarks/generation.py [--tokens 100 500 1000] [--rounds 3] [--threads N]

Batch 1, a 1-token prompt, greedy decoding, a 4-layer, 4-head, 128-wide model with 1024
positions and GPT-2's vocabulary (50,257). Rows, in this one process, taking turns round after
round (a busy spell hits the rows of one round alike):
- attnlab: `attnlab.fast.generate`, what `attnlab generate` runs (KV cache; each new token takes
  `attnlab.fast.decode.decode_step`);
- attnlab reference: `GPT.generate`, the same tokens through the modules (KV cache, no fast step);
- Hugging Face: `GPT2LMHeadModel.generate(use_cache=True)` with the same weights (checked: the
  same greedy tokens);
- attnlab, one (C, V) head (with --one-slice): the same, with the lm_head's weight as one (C, V)
  product instead of a slice of the vocabulary per thread (`attnlab.fast.decode.vocab_slices`);
- nanoGPT's loop: `plain_gpt.PlainGPT.generate`, nanoGPT's `generate` (no cache: the whole
  context again for every token, the last position's logits only), greedy; same sizes, its own
  weights (it has no biases).
A row's figure is its median tokens/s over rounds; a ratio is the median of each round's ratio.
Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch

from _common import hf_twin
from attnlab import GPT, GPTConfig
from attnlab.fast import decode
from plain_gpt import PlainGPT


def one_slice(model: GPT, prompt: torch.Tensor, n: int, head: torch.Tensor) -> torch.Tensor:
    """attnlab.fast.generate with the head as one (1, C, V) slice in place of one per thread."""
    sliced, decode.decode_head = decode.decode_head, lambda _: head
    try:
        return decode.generate(model, prompt, n, temperature=0.0)
    finally:
        decode.decode_head = sliced


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, nargs="+", default=[100, 500, 1000])
    parser.add_argument("--vocab-size", type=int, default=50257)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--one-slice", action="store_true", help="also attnlab with the head as one (C, V) slice")
    parser.add_argument("--no-nanogpt", action="store_true", help="leave out nanoGPT's loop (the slowest row)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config = GPTConfig(vocab_size=args.vocab_size, max_seq_len=1024, d_model=128, n_heads=4, n_layers=4)
    model = GPT(config).eval()
    hf = hf_twin(model).eval()
    plain = PlainGPT(args.vocab_size, 1024, 128, 4, 4).eval()
    prompt = torch.zeros(1, 1, dtype=torch.long)
    rows = {"attnlab": lambda n: decode.generate(model, prompt, n, temperature=0.0),
            "Hugging Face": lambda n: hf.generate(prompt, max_new_tokens=n, do_sample=False, use_cache=True),
            "attnlab reference": lambda n: model.generate(prompt, n, temperature=0.0)}
    if args.one_slice:
        head = decode.vocab_slices(model.lm_head.weight.detach(), 1)  # (1, C, V), laid out once
        rows["attnlab, one (C, V) head"] = lambda n: one_slice(model, prompt, n, head)
    if not args.no_nanogpt:
        rows["nanoGPT's loop"] = lambda n: plain.generate(prompt, n)
    with open("/proc/cpuinfo") if os.path.exists("/proc/cpuinfo") else open(os.devnull) as f:
        cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "unknown CPU")
    print(f"model: 4 layers, 4 heads, 128 wide, 1024 positions, vocab {args.vocab_size}; batch 1, 1-token "
          f"prompt, greedy; torch {torch.__version__}, {torch.get_num_threads()} threads; {cpu}, "
          f"load average {os.getloadavg()[0]:.1f}")
    for n in args.tokens:
        same = torch.equal(rows["attnlab"](n), rows["Hugging Face"](n))
        times: dict[str, list[float]] = {name: [] for name in rows}
        for _ in range(args.rounds):
            for name, run in rows.items():
                t0 = time.perf_counter()
                run(n)
                times[name].append(time.perf_counter() - t0)
        ours = times["attnlab"]
        line = f"{n:>5} new tokens: attnlab {n / statistics.median(ours):,.0f} tok/s " \
               f"({statistics.median(ours) / n * 1e3:.2f} ms/token)"
        for name in list(rows)[1:]:
            ratio = statistics.median(t / o for t, o in zip(times[name], ours))
            line += f"; {name} {n / statistics.median(times[name]):,.0f} tok/s, attnlab {ratio:.2f}x"
        print(line + ("" if same else "   (note: greedy ids differ from HF)"), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
