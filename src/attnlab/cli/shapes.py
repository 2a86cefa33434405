"""`attnlab shapes`: the shape-flow table (seed 003) for any model size."""

from __future__ import annotations

import argparse

from attnlab.cli._help import HelpFormatter
from attnlab.cli._runtime_args import add_runtime_args, use_runtime
from attnlab.config import GPTConfig
from attnlab.errors import UserError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "shapes", help="print the shape of every step, from token ids to logits",
        description="Run a dummy batch through a GPT and print the shape after every step of a block. "
                    "The defaults are seed 001's numbers: n_embd 64, 4 heads of 16, 3 tokens.",
        formatter_class=HelpFormatter)
    p.add_argument("--d-model", type=int, default=64, help="embedding width C (the seed's n_embd)")
    p.add_argument("--n-heads", type=int, default=4, help="attention heads H")
    p.add_argument("--n-layers", type=int, default=4, help="blocks")
    p.add_argument("--d-ff", type=int, default=None, help="feed-forward width (default 4 * d_model)")
    p.add_argument("--vocab-size", type=int, default=50257, help="vocabulary size V")
    p.add_argument("--seq-len", type=int, default=3, help="tokens T in the dummy sentence")
    p.add_argument("--batch-size", type=int, default=1, help="sentences B")
    p.add_argument("--norm", choices=["pre", "post"], default="pre", help="LayerNorm placement")
    add_runtime_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from attnlab.look.shapes import format_table, shape_flow
    from attnlab.model.gpt import GPT

    for name in ("seq_len", "batch_size"):
        if getattr(args, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    config = GPTConfig(vocab_size=args.vocab_size, max_seq_len=max(args.seq_len, 1), d_model=args.d_model,
                       n_heads=args.n_heads, n_layers=args.n_layers, d_ff=args.d_ff, norm=args.norm)
    from attnlab.model.memory import gpt_look_bytes, require_memory

    require_memory(gpt_look_bytes(config, args.batch_size, args.seq_len), "this GPT and its dummy batch",
                   hint=f"B={args.batch_size} T={args.seq_len} C={config.d_model} layers {config.n_layers} "
                        f"V={config.vocab_size}: pick smaller sizes")
    use_runtime(args)
    model = GPT(config).eval()
    rows, _ = shape_flow(model, args.batch_size, args.seq_len, generator=torch.Generator().manual_seed(0))
    print(f"B={args.batch_size} T={args.seq_len} C={config.d_model} H={config.n_heads} D={config.d_head} "
          f"V={config.vocab_size}  ({model.num_parameters():,} parameters)")
    print(format_table(rows))
    return 0
