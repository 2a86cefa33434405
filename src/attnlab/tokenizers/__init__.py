"""Tokenizers: text <-> token ids. Every tokenizer has the same small interface:

    name: str                              "char" | "bpe" | "gpt2"
    vocab_size: int
    encode(text: str) -> list[int]
    decode(ids: list[int]) -> str          decode(encode(s)) == s
    token_strings(ids) -> list[str]        one visible label per token (for attention maps)
    save(directory)                        writes attnlab_tokenizer.json (+ tokenizer.json)

    >>> tok = build_tokenizer("char", text="abba")
    >>> tok.encode("bab"), tok.vocab_size
    ([1, 0, 1], 2)
"""

from __future__ import annotations

import os
from pathlib import Path

from attnlab.io import load_json
from attnlab.tokenizers.bpe import BPETokenizer
from attnlab.tokenizers.char import META_FILE, CharTokenizer
from attnlab.tokenizers.gpt2 import GPT2Tokenizer
from attnlab.tokenizers.hf import HFTokenizer
from attnlab.tokenizers.numbers import NumberTokenizer
from attnlab.errors import UserError

TOKENIZERS = ("char", "bpe", "gpt2")


def build_tokenizer(name: str, text: str | None = None, vocab_size: int | None = None):
    """Make a tokenizer: `char` from the characters of `text`, `bpe` trained on `text` up to
    `vocab_size` tokens (default 1024), `gpt2` GPT-2's fixed vocabulary (`text` is not needed)."""
    if name not in TOKENIZERS:
        raise UserError(f"unknown tokenizer '{name}' (choose from {', '.join(TOKENIZERS)})")
    if vocab_size is not None and name != "bpe":
        raise UserError(f"vocab_size only applies to the bpe tokenizer (the {name} vocabulary "
                         f"is {'set by the text' if name == 'char' else 'fixed'})")
    if name == "char":
        if text is None:
            raise UserError("the char tokenizer is built from a text: pass text=")
        return CharTokenizer.train(text)
    if name == "bpe":
        if text is None:
            raise UserError("the bpe tokenizer is trained on a text: pass text=")
        return BPETokenizer.train(text, vocab_size)
    return GPT2Tokenizer.from_package()


def load_tokenizer(directory: str | os.PathLike):
    """Load a tokenizer saved with `tokenizer.save(directory)`."""
    meta = load_json(Path(directory) / META_FILE)
    name = meta.get("name") if isinstance(meta, dict) else None
    loaders = {"char": CharTokenizer, "bpe": BPETokenizer, "gpt2": GPT2Tokenizer,
               "hf": HFTokenizer,  # "hf": a tokenizer.json brought in by `attnlab import-hf`
               "numbers": NumberTokenizer}  # the grokking lab's 0 .. p-1 and '='

    if name in loaders:
        return loaders[name].load(directory)
    raise UserError(f"{Path(directory) / META_FILE} names an unknown tokenizer {name!r}")


__all__ = ["TOKENIZERS", "build_tokenizer", "load_tokenizer", "CharTokenizer", "BPETokenizer", "GPT2Tokenizer",
           "HFTokenizer"]
