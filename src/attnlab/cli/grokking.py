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
import json
import sys
from dataclasses import fields

from attnlab.cli._progress import Progress
from attnlab.errors import UserError
from attnlab.labs.grokking.config import GrokConfig

# The lab's settings, as flags: (field, help). Defaults come from GrokConfig (or the preset).
FLAGS = (("p", "the modulus, a prime >= 3"), ("train_fraction", "share of the p * p pairs trained on"),
         ("steps", "full-batch training steps"), ("weight_decay", "AdamW weight decay"),
         ("lr", "AdamW learning rate (constant after a 10-step warm-up)"), ("seed", "weights and the split"),
         ("eval_interval", "evaluate (and checkpoint) every N steps"),
         ("dtype", "the training step's matmuls: fp32, bf16 (autocast; fast only on a CPU with AVX-512 BF16 or AMX) "
                   "or auto (bf16 where the CPU has it, else fp32)"))
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
    for f in fields(GrokConfig):
        text = dict(FLAGS).get(f.name)
        if text is not None:
            p.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=None,
                           help=f"{text} (default: {f.default}, or the preset's)")
    p.add_argument("--out-dir", default="runs/grokking", help="the run folder (default: runs/grokking)")
    p.add_argument("--resume", action="store_true", help="continue the run in OUT_DIR")
    p.add_argument("--overwrite", action="store_true", help="replace the run in OUT_DIR (only attnlab's files)")
    p.add_argument("--png", action=argparse.BooleanOptionalAction, default=True,
                   help="draw grokking.png: loss, accuracy, spectrum, neurons (default: on)")
    p.add_argument("--json", action="store_true", help="print only the summary as JSON")
    p.add_argument("--threads", type=int, default=1, help="CPU threads for torch (0: PyTorch's choice) (default: 1)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def lab_config(args: argparse.Namespace):
    """GrokConfig from the preset, then the flags given."""
    values = dict(PRESETS[args.preset])
    values.update({name: getattr(args, name) for name, _ in FLAGS if getattr(args, name) is not None})
    return GrokConfig(**values)


def run(args: argparse.Namespace) -> int:
    import torch

    from attnlab.device import bf16_warning
    from attnlab.labs.grokking.lab import training_dtype
    from attnlab.labs.grokking.run import run_grokking

    if args.resume and args.overwrite:
        raise UserError("--resume and --overwrite exclude each other")
    if args.threads < 0:
        raise UserError(f"--threads must be >= 0, got {args.threads}")
    cfg = lab_config(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    warning = bf16_warning(torch.device("cpu"), training_dtype(cfg.dtype))
    if warning:
        print(f"attnlab: warning: {warning}", file=sys.stderr)
    mode = "resume" if args.resume else "overwrite" if args.overwrite else "new"
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
        result = run_grokking(cfg, args.out_dir, mode, png=args.png, on_event=on_event)
    finally:
        progress.close()
    if args.json:
        print(json.dumps(result.summary))
        return 130 if result.interrupted else 0
    print()
    for paragraph in result.paragraphs:
        print(paragraph + "\n")
    if result.interrupted:
        print(f"interrupted at step {result.summary['steps']}: checkpoint saved. Continue with:\n"
              f"  attnlab grokking --out-dir {args.out_dir} --resume")
        return 130
    print("wrote " + ", ".join(str(f) for f in result.files))
    return 0
