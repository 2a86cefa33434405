"""Capture overhead: a forward pass with `capture_attention` vs without, same model and input.

The model is the `shakespeare` preset's size (6 layers, 6 heads, width 384, vocab 65) at 256
tokens. Without capture attention runs `F.scaled_dot_product_attention` (weights never
materialised); with capture it runs the explicit path and hands every (B, H, T, T) map to the
hook. Prints the median times and their ratio (target: <= 1.5x).

    python benchmarks/capture_overhead.py [--batch-size 8] [--repeats 20] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from attnlab.config import GPTConfig
from attnlab.model.gpt import GPT
from attnlab.look.capture import capture_attention


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def seconds(fn, device: torch.device) -> float:
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--seq-len", type=int, default=256)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    config = GPTConfig(vocab_size=65, max_seq_len=args.seq_len, d_model=384, n_heads=6, n_layers=6, dropout=0.2)
    model = GPT(config).to(device).eval()
    idx = torch.randint(0, 65, (args.batch_size, args.seq_len), generator=torch.Generator().manual_seed(0)).to(device)

    def plain() -> None:
        model(idx)

    def explicit() -> None:  # the explicit path without a hook: what capture costs beyond the math
        for block in model.blocks:
            block.attn.use_sdpa = False
        try:
            model(idx)
        finally:
            for block in model.blocks:
                block.attn.use_sdpa = True

    def captured() -> None:
        with capture_attention(model) as maps:
            model(idx)
        assert len(maps) == config.n_layers

    with torch.inference_mode():
        for _ in range(args.warmup):
            plain()
            explicit()
            captured()
        # interleave the three so drift on a shared machine hits them alike
        fast, mid, slow = [], [], []
        for _ in range(args.repeats):
            fast.append(seconds(plain, device))
            mid.append(seconds(explicit, device))
            slow.append(seconds(captured, device))
    t_plain, t_explicit, t_capture = statistics.median(fast), statistics.median(mid), statistics.median(slow)
    print(f"device {device}, threads {torch.get_num_threads()}, B={args.batch_size} T={args.seq_len} "
          f"(6 layers, 6 heads, C=384, V=65, {model.num_parameters():,} parameters)")
    print(f"forward without capture: {t_plain * 1e3:8.2f} ms (median of {args.repeats})")
    print(f"explicit path, no hook:  {t_explicit * 1e3:8.2f} ms  (use_sdpa=False)")
    print(f"forward with capture:    {t_capture * 1e3:8.2f} ms")
    print(f"ratio: {t_capture / t_plain:.2f}x (target <= 1.5x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
