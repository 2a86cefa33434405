"""BPE tokenizer training time on text without whitespace: does it grow linearly with the text?

    python benchmarks/bpe_training.py [--sizes-kb 100 300 1000 3000] [--vocab-size 1024]

Two texts, each cut to every size: random lowercase letters (no word boundary anywhere) and
random Hangul syllables (Korean written without spaces). Each row is one `BPETokenizer.train`
call (the bound check, the pre-tokenization and the merges), in wall seconds and process CPU
seconds, and CPU seconds per megabyte: a flat last column is linear growth. Before words were
cut at 64 bytes (tokenizers/bpe.py), 100 KB took 7 s and 300 KB 55 s.
"""

from __future__ import annotations

import argparse
import random
import time

from attnlab.tokenizers.bpe import BPETokenizer


def texts(n_chars: int, seed: int = 0) -> dict[str, str]:
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    syllables = [chr(0xAC00 + i) for i in range(0, 11172, 37)]  # 302 Hangul syllables
    return {"letters": "".join(rng.choice(letters) for _ in range(n_chars)),
            "hangul": "".join(rng.choice(syllables) for _ in range(n_chars))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes-kb", type=int, nargs="+", default=[100, 300, 1000, 3000],
                        help="text sizes in kilobytes of UTF-8")
    parser.add_argument("--vocab-size", type=int, default=1024, help="BPE vocabulary to train")
    args = parser.parse_args(argv)
    largest = texts(max(args.sizes_kb) * 1000)
    print(f"vocab_size {args.vocab_size}; sizes in UTF-8 bytes (a Hangul syllable is 3 bytes)")
    print(f"{'text':>8} {'size':>8} {'wall s':>8} {'cpu s':>8} {'cpu s/MB':>9}")
    for name, full in largest.items():
        width = len(full[0].encode("utf-8"))
        for kb in args.sizes_kb:
            text = full[:kb * 1000 // width]
            wall, cpu = time.perf_counter(), time.process_time()
            BPETokenizer.train(text, args.vocab_size)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            print(f"{name:>8} {kb:>6}KB {wall:>8.1f} {cpu:>8.1f} {cpu / (kb / 1000):>9.1f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
