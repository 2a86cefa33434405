"""`attnlab export-hf`: save a trained run as a Hugging Face GPT-2 model folder.

    attnlab export-hf --run runs/cpu-shakespeare-char --out exported/shakespeare
    python -c "from transformers import pipeline; \\
               print(pipeline('text-generation', model='exported/shakespeare')('ROMEO:'))"

GPT-2's architecture is pre-LayerNorm with biases everywhere and no lm_head bias; a run that
differs (e.g. the seed preset: bias-free q/k/v and an lm_head bias) is refused with the options
named.
"""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "export-hf", help="save a run as a Hugging Face GPT-2 folder (transformers loads it offline)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True, help="a run folder written by `attnlab train`")
    p.add_argument("--out", required=True, help="the folder to write (must not exist or be empty)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing model folder at --out")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from attnlab.interop.export import export_hf

    out = export_hf(args.run, args.out, overwrite=args.overwrite)
    print(f"exported {args.run} to {out} (load it with transformers' from_pretrained or pipeline)")
    return 0
