"""`attnlab generate`: sample text from a trained run, streamed to the terminal token by token.

    attnlab generate --run runs/cpu-shakespeare-char --prompt "ROMEO:" --max-new-tokens 300
"""

from __future__ import annotations

import argparse
import sys

from attnlab.cli._help import HelpFormatter
from attnlab.cli._lab import add_settings, print_json, settings_from_args
from attnlab.cli._runtime_args import add_runtime_args, use_runtime
from attnlab.labs.sampling.settings import GENERATE, GenerateSettings


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "generate", help="sample text from a trained run (streams tokens, uses the KV cache)",
        description="Sample text from a trained run folder, printing each token as it is produced. "
                    "`attnlab next` shows the distribution the first token is drawn from.",
        formatter_class=HelpFormatter)
    add_settings(p, GenerateSettings)
    p.add_argument("--json", action="store_true", help='print one JSON object, {"prompt", "samples"}, once the '
                                                       "samples are drawn, instead of streaming the text")
    add_runtime_args(p, device=True)
    p.set_defaults(func=run)


def note(kind: str, info: dict) -> None:
    if kind == "note":
        print(f"attnlab: note: {info['text']}", file=sys.stderr)


def stream(kind: str, info: dict) -> None:
    """Each sample's prompt, then its text as it appears, a line of dashes between samples."""
    if kind == "sample":
        if info["index"] > 0:
            print("\n" + "-" * 40)
        sys.stdout.write(info["prompt"])
    elif kind == "text":
        sys.stdout.write(info["text"])
        sys.stdout.flush()
    note(kind, info)


def prompt_ids(tokenizer, prompt: str | None) -> tuple[str, list[int]]:
    """(prompt text, its ids), the default prompt's note on stderr (attnlab.labs.sampling.run.prompt_ids)."""
    from attnlab.labs.sampling.run import prompt_ids as lab_prompt_ids

    return lab_prompt_ids(tokenizer, prompt, note)


def run(args: argparse.Namespace) -> int:
    from attnlab.labs.sampling.run import open_run

    settings = settings_from_args(GenerateSettings, args)
    device = use_runtime(args).device
    opened = open_run(settings, device)
    if args.json:
        print_json(GENERATE.run(settings, note, opened=opened))
        return 0
    GENERATE.run(settings, stream, opened=opened)
    print()
    return 0
