"""Generation speed: our KV-cached path vs our uncached path vs Hugging Face GPT-2 `generate`.

    python benchmarks/generation.py [--tokens 100 500 1000] [--threads N]

Batch 1, a 1-token prompt, greedy decoding, a 4-layer, 4-head, 128-wide model with 1024
positions; the same weights in `transformers.GPT2LMHeadModel`. Figures are tokens/s and
ratios measured in this one process (absolute numbers depend on the machine).
"""

from __future__ import annotations

import argparse
import sys

import torch

from _common import best_time, hf_twin
from attnlab import GPT, GPTConfig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, nargs="+", default=[100, 500, 1000])
    parser.add_argument("--vocab-size", type=int, default=50257)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--skip-uncached-above", type=int, default=1000)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config = GPTConfig(vocab_size=args.vocab_size, max_seq_len=1024, d_model=128, n_heads=4, n_layers=4)
    model = GPT(config).eval()
    hf = hf_twin(model).eval()
    prompt = torch.zeros(1, 1, dtype=torch.long)
    print(f"model: 4 layers, 4 heads, 128 wide, 1024 positions, vocab {args.vocab_size}; "
          f"batch 1, 1-token prompt, greedy; torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'new tokens':>10} {'cached tok/s':>13} {'uncached tok/s':>15} {'HF tok/s':>10} "
          f"{'cached/HF':>10} {'cached/uncached':>16}")
    for n in args.tokens:
        ours = model.generate(prompt, n, temperature=0.0)
        theirs = hf.generate(prompt, max_new_tokens=n, do_sample=False, use_cache=True)
        same = torch.equal(ours, theirs)
        t_cached = best_time(lambda: model.generate(prompt, n, temperature=0.0), args.repeats)
        t_hf = best_time(lambda: hf.generate(prompt, max_new_tokens=n, do_sample=False, use_cache=True),
                         args.repeats)
        t_uncached = float("nan")
        if n <= args.skip_uncached_above:
            t_uncached = best_time(lambda: model.generate(prompt, n, temperature=0.0, use_cache=False),
                                   repeats=1, warmup=0)
        print(f"{n:>10} {n / t_cached:>13.0f} {n / t_uncached:>15.0f} {n / t_hf:>10.0f} "
              f"{t_hf / t_cached:>9.2f}x {t_uncached / t_cached:>15.2f}x"
              + ("" if same else "   (note: greedy ids differ from HF)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
