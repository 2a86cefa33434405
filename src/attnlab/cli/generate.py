"""`attnlab generate`: sample text from a trained run, streamed to the terminal token by token.

    attnlab generate --run runs/cpu-shakespeare-char --prompt "ROMEO:" --max-new-tokens 300
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from attnlab.cli import CLIError


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "generate", help="sample text from a trained run (streams tokens, uses the KV cache)",
        description="Sample text from a trained run folder, printing each token as it is produced.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--run", help="a run folder written by `attnlab train`, e.g. runs/cpu-shakespeare-char")
    source.add_argument("--checkpoint", help="a run folder's model.safetensors (its folder holds the config "
                                             "and tokenizer)")
    p.add_argument("--prompt", default="\n", help="text to continue")
    p.add_argument("--max-new-tokens", type=int, default=500, help="tokens to sample per sample")
    p.add_argument("--temperature", type=float, default=0.8, help="softmax temperature; 0 is greedy")
    p.add_argument("--top-k", type=int, default=200, help="sample among the k most likely tokens (0: all)")
    p.add_argument("--top-p", type=float, default=None, help="nucleus sampling: the smallest set of tokens "
                                                             "whose probabilities reach p")
    p.add_argument("--seed", type=int, default=1337, help="random seed (same seed, same text)")
    p.add_argument("--num-samples", type=int, default=1, help="how many samples to draw")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from attnlab.checkpoint import load_model
    from attnlab.device import pick_device
    from attnlab.generate import stream_sample
    from attnlab.runfolder import CHECKPOINT_DIR

    if args.max_new_tokens < 0 or args.num_samples < 1:
        raise CLIError("--max-new-tokens must be >= 0 and --num-samples >= 1")
    if args.temperature < 0:
        raise CLIError(f"--temperature must be >= 0, got {args.temperature}")
    if args.top_p is not None and not 0.0 < args.top_p <= 1.0:
        raise CLIError(f"--top-p must be in (0, 1], got {args.top_p}")
    if args.top_k is not None and args.top_k < 0:
        raise CLIError(f"--top-k must be >= 0, got {args.top_k}")
    run_dir = Path(args.run) if args.run else Path(args.checkpoint)
    if args.checkpoint and run_dir.suffix == ".safetensors":
        run_dir = run_dir.parent
    if args.checkpoint and CHECKPOINT_DIR.match(run_dir.name):  # runs/<name>/checkpoint-000250/
        run_dir = run_dir.parent
    device = pick_device(args.device)
    model, tokenizer = load_model(run_dir, device)
    prompt_ids = tokenizer.encode(args.prompt)  # a character outside a char vocabulary: ValueError
    if not prompt_ids:
        raise CLIError("the prompt is empty: pass --prompt with at least one token")
    generator = torch.Generator(device=device).manual_seed(args.seed)
    for i in range(args.num_samples):
        if i > 0:
            print("\n" + "-" * 40)
        sys.stdout.write(args.prompt)
        stream_sample(model, tokenizer, prompt_ids, args.max_new_tokens,
                      write=lambda s: (sys.stdout.write(s), sys.stdout.flush()),
                      temperature=args.temperature, top_k=args.top_k or None, top_p=args.top_p,
                      generator=generator)
    print()
    return 0
