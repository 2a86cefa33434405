"""The flags `attention`, `heads`, `explain`, `lens`, `ablate`, `why` and `serve` share.

--run DIR or --model minilm names the model (opened by `attnlab.sources.open_source`), TEXT the
text, --from/--to/--vs a pair of its tokens (--threads and --dtype are `_runtime_args`'s). Nothing
here imports torch: `attnlab --help` stays fast, and `load_source` imports it when it runs.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from attnlab.cli._help import HelpFormatter
from attnlab.cli._runtime_args import use_runtime
from attnlab.errors import UserError
from attnlab.labs.why.tokens import find_token, norm_token  # noqa: F401 (the lab's; heads and the tests read them here)

if TYPE_CHECKING:
    from attnlab.sources import TextModel


def add_source_flags(p: argparse.ArgumentParser, required: bool = True) -> None:
    group = p.add_mutually_exclusive_group(required=required)
    group.add_argument("--run", metavar="DIR", help="a training run folder (runs/<name>) holding a GPT")
    group.add_argument("--model", choices=["minilm"], help="a pretrained model: minilm = all-MiniLM-L6-v2")


def add_text_command(subparsers: argparse._SubParsersAction, name: str, help: str,
                     description: str, text_optional: bool = False) -> argparse.ArgumentParser:
    """A subcommand that runs a TEXT through a model given by --run or --model (`text_optional`:
    a mode of the command makes its own input, so TEXT may be left out; `run` then checks it)."""
    p = subparsers.add_parser(name, help=help, description=description, formatter_class=HelpFormatter)
    p.add_argument("text", nargs="?" if text_optional else None, help="the text to look at")
    add_source_flags(p)
    return p


def load_source(args: argparse.Namespace) -> TextModel:
    """The model --run or --model names, with its tokenizer, on the command's runtime (decided here
    unless the command already did: `attnlab.cli._runtime_args.use_runtime`)."""
    from attnlab.sources import open_source

    use_runtime(args)
    return open_source(run=args.run, model=args.model)


def add_pair_flags(p: argparse.ArgumentParser, required: bool = True) -> None:
    """--from, --to and --vs: the token that looks, the one it may look at, and a rival
    (`required=False`: another mode of the command needs none of them; `run` then checks)."""
    p.add_argument("--from", dest="src", required=required, metavar="TOKEN", help="the token that looks (a query)")
    p.add_argument("--to", dest="dst", required=required, metavar="TOKEN", help="the token it may look at")
    p.add_argument("--vs", metavar="TOKEN", help="a rival token to compare with")


def find_pair(tokens: list[str], args: argparse.Namespace) -> tuple[int, int, int | None]:
    """The positions of --from, --to and --vs (None when not given) among `tokens`."""
    i, j = find_token(tokens, args.src, "--from"), find_token(tokens, args.dst, "--to")
    return i, j, None if args.vs is None else find_token(tokens, args.vs, "--vs")


def print_json(data: object, what: str) -> None:
    """`--json`: strict JSON on stdout (NaN and infinities as null) and, when there were any, a
    warning on stderr, since such numbers mean the model's weights or inputs hold NaN or inf."""
    import sys

    from attnlab.io import strict_json

    text, replaced = strict_json(data)
    if replaced:
        print(f"attnlab: warning: {replaced} number{'' if replaced == 1 else 's'} in {what} "
              f"{'is' if replaced == 1 else 'are'} NaN or infinite (does the model hold NaN weights?); "
              f"the JSON has null there", file=sys.stderr)
    print(text)


def check_writable(path: str | None) -> None:
    """Fail before any work when an output file could not be written."""
    if path is None:
        return
    p = Path(path)
    if p.is_dir():
        raise UserError(f"cannot write {path}: it is a directory")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise UserError(f"cannot write {path}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise UserError(f"cannot write {path}: permission denied")
