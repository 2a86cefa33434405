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
from attnlab.tokenizers.char import META_FILE, CharTokenizer

TOKENIZERS = ("char",)


def build_tokenizer(name: str, text: str | None = None, vocab_size: int | None = None):
    """Make a tokenizer: `char` from the characters of `text`."""
    if name not in TOKENIZERS:
        raise ValueError(f"unknown tokenizer '{name}' (choose from {', '.join(TOKENIZERS)})")
    if name == "char":
        if text is None:
            raise ValueError("the char tokenizer is built from a text: pass text=")
        return CharTokenizer.train(text)
    raise AssertionError(name)


def load_tokenizer(directory: str | os.PathLike):
    """Load a tokenizer saved with `tokenizer.save(directory)`."""
    meta = load_json(Path(directory) / META_FILE)
    name = meta.get("name") if isinstance(meta, dict) else None
    if name == "char":
        return CharTokenizer.load(directory)
    raise ValueError(f"{Path(directory) / META_FILE} names an unknown tokenizer {name!r}")


__all__ = ["TOKENIZERS", "build_tokenizer", "load_tokenizer", "CharTokenizer"]
