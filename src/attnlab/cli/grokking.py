"""`attnlab grokking`: watch a one-layer transformer memorise `a + b mod p`, then grok it.

    attnlab grokking                              # Nanda et al.'s setting: p 113, 30% of the pairs
    attnlab grokking --preset fast                # a smaller setting that groks in minutes on a CPU
    attnlab grokking --steps 500 --out-dir runs/g # a short look (memorisation only)
    attnlab grokking --resume --steps 40000       # continue the run in OUT_DIR
    attnlab grokking --json                       # the summary only, as one JSON object

OUT_DIR is an ordinary run folder (`attention`, `explain`, `lens`, `generate` read it) with
metrics.jsonl (the Fourier measures at every evaluation), summary.json, report.md and grokking.png.
"""

from __future__ import annotations

import argparse

from attnlab.cli._lab import add_settings, print_json, print_lines, settings_from_args
from attnlab.cli._progress import Progress
from attnlab.cli._runtime_args import add_runtime_args, use_runtime
from attnlab.labs.grokking.config import LAB, GrokSettings

# Nanda et al.'s setting, and a smaller one measured to grok within minutes here (benchmarks/README.md):
# p 53 on half the pairs, with twice the weight decay (it groks in 1,000 steps instead of 2,700), bf16
# where the CPU has it.
PRESETS = {"paper": {},
           "fast": {"p": 53, "train_fraction": 0.5, "weight_decay": 2.0, "steps": 1500, "dtype": "auto"}}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("grokking", help="watch a one-layer transformer grok modular addition",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=sorted(PRESETS), default="paper",
                   help="paper (Nanda et al.) or fast (smaller p, measured to grok in minutes) (default: paper)")
    add_settings(p, GrokSettings)
    p.add_argument("--json", action="store_true", help="print only the summary as JSON")
    add_runtime_args(p, dtype=False, small=True)  # --dtype is GrokConfig's
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def lab_config(args: argparse.Namespace) -> GrokSettings:
    """GrokSettings from the preset, then --config, then the flags given."""
    return settings_from_args(GrokSettings, args, PRESETS[args.preset])


def run(args: argparse.Namespace) -> int:
    cfg = lab_config(args)
    use_runtime(args, device="cpu", dtype=cfg.dtype, training=True)  # the lab trains in cfg.dtype itself
    progress = Progress(print, enabled=not (args.json or args.no_progress))
    say = (lambda line: None) if args.json else progress.write

    def on_event(kind: str, info: dict) -> None:
        if kind == "eval":
            say(f"step {info['step']:>6}: train loss {info['train_loss']:.4f} acc {100 * info['train_acc']:5.1f}%, "
                f"test loss {info['test_loss']:.4f} acc {100 * info['test_acc']:5.1f}%, key frequencies "
                f"{info['key_frequencies'][:8]}, restricted loss {info['restricted_loss']:.3g}")
        elif not args.json:
            progress(kind, info)

    try:
        result = LAB.run(cfg, on_event)
    finally:
        progress.close()
    if args.json:
        print_json(result)
    else:
        print_lines(LAB.report(result))
    return 130 if result.interrupted else 0
