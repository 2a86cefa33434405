"""`attnlab generate`: sample text from a trained run, streamed to the terminal token by token.

    attnlab generate --run runs/cpu-shakespeare-char --prompt "ROMEO:" --max-new-tokens 300
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from attnlab.errors import UserError
from attnlab.cli._help import HelpFormatter
from attnlab.cli._runtime_args import add_runtime_args, use_runtime


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "generate", help="sample text from a trained run (streams tokens, uses the KV cache)",
        description="Sample text from a trained run folder, printing each token as it is produced.",
        formatter_class=HelpFormatter)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--run", help="a run folder written by `attnlab train`, e.g. runs/cpu-shakespeare-char")
    source.add_argument("--checkpoint", help="a run folder's model.safetensors (its folder holds the config "
                                             "and tokenizer)")
    p.add_argument("--prompt", default=None, help="text to continue (default: a newline, or the vocabulary's "
                                                  "first token when it has no newline)")
    p.add_argument("--max-new-tokens", type=int, default=500, help="tokens to sample per sample")
    p.add_argument("--temperature", type=float, default=0.8, help="softmax temperature; 0 is greedy")
    p.add_argument("--top-k", type=int, default=200, help="sample among the k most likely tokens (0: all)")
    p.add_argument("--top-p", type=float, default=None, help="nucleus sampling: the smallest set of tokens "
                                                             "whose probabilities reach p")
    p.add_argument("--seed", type=int, default=1337, help="random seed (same seed, same text)")
    p.add_argument("--num-samples", type=int, default=1, help="how many samples to draw")
    add_runtime_args(p, device=True)
    p.set_defaults(func=run)


def check_args(args: argparse.Namespace) -> None:
    """Every flag's range, before the run folder is read."""
    if args.max_new_tokens < 0 or args.num_samples < 1:
        raise UserError("--max-new-tokens must be >= 0 and --num-samples >= 1")
    if not math.isfinite(args.temperature) or args.temperature < 0:
        raise UserError(f"--temperature must be a finite number >= 0 (0 is greedy), got {args.temperature}")
    if args.top_p is not None and not 0.0 < args.top_p <= 1.0:
        raise UserError(f"--top-p must be in (0, 1], got {args.top_p}")
    if args.top_k is not None and args.top_k < 0:
        raise UserError(f"--top-k must be >= 0, got {args.top_k}")
    if not 0 <= args.seed < 2**63:
        raise UserError(f"--seed must be in [0, 2**63), got {args.seed}")


def prompt_ids(tokenizer, prompt: str | None) -> tuple[str, list[int]]:
    """(prompt text, its ids). The default prompt, a newline, falls back to the vocabulary's first
    token when the run's corpus had no newline (a char vocabulary cannot encode it)."""
    try:
        ids = tokenizer.encode("\n" if prompt is None else prompt)  # a char outside a char vocabulary: ValueError
    except ValueError:
        if prompt is not None:
            raise
        text = tokenizer.decode([0])
        print(f"attnlab: note: this run's vocabulary has no newline (the default prompt); starting from its "
              f"first token {text!r} instead (pass --prompt to choose)", file=sys.stderr)
        return text, [0]
    if not ids:
        raise UserError("the prompt is empty: pass --prompt with at least one token")
    return ("\n" if prompt is None else prompt), ids


def run(args: argparse.Namespace) -> int:
    import torch

    from attnlab.fast import stream_sample
    from attnlab.model.memory import gpt_memory_bytes, require_memory
    from attnlab.runs.checkpoint import load_model, read_run_config
    from attnlab.runs.folder import CHECKPOINT_DIR

    check_args(args)
    run_dir = Path(args.run) if args.run else Path(args.checkpoint)
    if args.checkpoint and run_dir.suffix == ".safetensors":
        run_dir = run_dir.parent
    if args.checkpoint and CHECKPOINT_DIR.match(run_dir.name):  # runs/<name>/checkpoint-000250/
        run_dir = run_dir.parent
    if not run_dir.is_dir():
        raise UserError(f"run folder {run_dir} not found")
    device = use_runtime(args).device
    config, _, _ = read_run_config(run_dir)
    # the weights, one forward pass over the window and a full KV cache, before any is allocated
    require_memory(gpt_memory_bytes(config, kv_cache_len=config.max_seq_len), f"the model in {run_dir}", device,
                   hint=f"its config.json says n_layers {config.n_layers}, d_model {config.d_model}, "
                        f"max_seq_len {config.max_seq_len}, vocab_size {config.vocab_size}")
    model, tokenizer = load_model(run_dir, device)
    prompt, ids = prompt_ids(tokenizer, args.prompt)
    generator = torch.Generator(device=device).manual_seed(args.seed)
    for i in range(args.num_samples):
        if i > 0:
            print("\n" + "-" * 40)
        sys.stdout.write(prompt)
        stream_sample(model, tokenizer, ids, args.max_new_tokens,
                      write=lambda s: (sys.stdout.write(s), sys.stdout.flush()),
                      temperature=args.temperature, top_k=args.top_k or None, top_p=args.top_p,
                      generator=generator)
    print()
    return 0
