"""The ablation ladder against its targets: `attnlab ladder`, then each rung's loss checked.

    PYTHONPATH=src python benchmarks/ladder.py                            # shakespeare, 5000 steps
    PYTHONPATH=src python benchmarks/ladder.py --corpus korean-law        # no targets: figures only
    PYTHONPATH=src python benchmarks/ladder.py --out-dir runs/ladder-shakespeare   # reuse a finished ladder

The targets (issue 12): validation loss falls at every rung; the bigram rung ends within 0.05
of the best any bigram model can do on this split; the other rungs within 0.08 of the
lecture's 2.40, 2.28, 2.24, 2.08, 2.06. "The best a bigram can do" is computed here from the
token ids alone, with no model: the cross-entropy of the validation bigrams under add-α
smoothed counts of the training bigrams, at the best α of a small grid. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import time

import torch

from attnlab.train.data import load_corpus
from attnlab.labs.ladder.rungs import RUNGS, rung_config, run_ladder
from attnlab.tokenizers import build_tokenizer
from attnlab.train.gpt import encode_corpus

LECTURE = {"one-head": 2.40, "multi-head": 2.28, "feed-forward": 2.24, "residual": 2.08, "layernorm": 2.06}
TOLERANCE = {"bigram": 0.05, **{name: 0.08 for name in LECTURE}}
ALPHAS = (0.01, 0.03, 0.1, 0.3, 1.0)


def bigram_counts(ids: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """(V, V) float64 counts: [a, b] = how often token b follows token a."""
    counts = torch.zeros(vocab_size, vocab_size, dtype=torch.float64)
    counts.index_put_((ids[:-1], ids[1:]), torch.ones(len(ids) - 1, dtype=torch.float64), accumulate=True)
    return counts


def best_bigram_loss(train_ids: torch.Tensor, val_ids: torch.Tensor, vocab_size: int) -> tuple[float, float]:
    """(cross-entropy, α): validation bigrams under add-α smoothed training-bigram probabilities."""
    train, val = bigram_counts(train_ids, vocab_size), bigram_counts(val_ids, vocab_size)
    losses = {}
    for alpha in ALPHAS:
        probs = (train + alpha) / (train + alpha).sum(dim=1, keepdim=True)  # each row sums to 1
        losses[alpha] = (-(val * probs.log()).sum() / val.sum()).item()
    alpha = min(losses, key=losses.get)
    return losses[alpha], alpha


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default="shakespeare")
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--out-dir", default=None, help="the ladder folder (default: runs/ladder-CORPUS)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    text = load_corpus(args.corpus)
    tokenizer = build_tokenizer("char", text)
    train_ids, val_ids = encode_corpus(text, tokenizer, rung_config(RUNGS[0], args.corpus))
    best, alpha = best_bigram_loss(train_ids, val_ids, tokenizer.vocab_size)
    print(f"{args.corpus}: {len(train_ids):,} train / {len(val_ids):,} val tokens, vocabulary {tokenizer.vocab_size}; "
          f"best bigram on the validation split {best:.4f} (add-{alpha} smoothing)")
    started = time.perf_counter()
    result = run_ladder(args.corpus, args.out_dir or f"runs/ladder-{args.corpus}", steps=args.steps)
    wall = time.perf_counter() - started
    targets = {"bigram": best, **LECTURE} if args.corpus == "shakespeare" and args.steps == 5000 else {}
    print(f"{'rung':<14}{'params':>8}{'val loss':>10}{'target':>8}{'gap':>8}  within  {'time':>6}")
    previous, falls = None, True
    for r in result["rungs"]:
        target = targets.get(r["name"])
        gap = None if target is None else r["val_loss"] - target
        within = "" if gap is None else ("yes" if abs(gap) <= TOLERANCE[r["name"]] else "NO")
        print(f"{r['name']:<14}{r['params']:>8,}{r['val_loss']:>10.4f}"
              f"{'' if target is None else f'{target:.2f}':>8}{'' if gap is None else f'{gap:+.3f}':>8}"
              f"  {within:<6}  {r['seconds']:>5.0f}s")
        falls = falls and (previous is None or r["val_loss"] < previous)
        previous = r["val_loss"]
    print(f"falls at every rung: {'yes' if falls else 'NO'}; training {sum(r['seconds'] for r in result['rungs']):.0f} s "
          f"(sum over rungs), this command {wall:.0f} s")


if __name__ == "__main__":
    main()
