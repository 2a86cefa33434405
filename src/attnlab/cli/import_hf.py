"""`attnlab import-hf`: turn a local Hugging Face GPT-2 folder into an attnlab run.

    attnlab import-hf ~/models/distilgpt2 --out runs/distilgpt2
    attnlab generate --run runs/distilgpt2 --prompt "Hello, my name is"

The folder needs config.json (model_type "gpt2"), weights (model.safetensors or
pytorch_model.bin, loaded without running pickled code) and tokenizer files (tokenizer.json,
or vocab.json + merges.txt). Nothing is downloaded.
"""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "import-hf", help="turn a local Hugging Face GPT-2 folder into an attnlab run folder",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dir", help="a local folder written by save_pretrained (e.g. a copy of gpt2 or distilgpt2)")
    p.add_argument("--out", required=True, help="the run folder to write, e.g. runs/gpt2")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run folder at --out")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from attnlab.runs.checkpoint import read_run_config
    from attnlab.interop.export import import_hf

    out = import_hf(args.dir, args.out, overwrite=args.overwrite)
    config, _, tokenizer = read_run_config(out)
    print(f"imported {args.dir} to {out}: {config.n_layers} layers, {config.n_heads} heads, "
          f"d_model {config.d_model}, vocab {config.vocab_size} ({tokenizer} tokenizer)")
    return 0
