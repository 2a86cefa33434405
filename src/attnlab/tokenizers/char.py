"""The character tokenizer: one token per distinct character of the training text.

The vocabulary is the sorted set of characters, so ids are stable for a given text:

    >>> tok = CharTokenizer.train("hello 세계")
    >>> tok.itos
    [' ', 'e', 'h', 'l', 'o', '계', '세']
    >>> tok.encode("hell 세")
    [2, 1, 3, 3, 0, 6]
    >>> tok.decode([2, 1, 3, 3, 0, 6])
    'hell 세'

A character the text never contained has no id: encoding it raises a ValueError that names the
character and its position (there is no silent "unknown" token).
"""

from __future__ import annotations

import os
from pathlib import Path

from attnlab.io import load_json, save_json
from attnlab.errors import UserError

META_FILE = "attnlab_tokenizer.json"


def display(text: str) -> str:
    """A visible label for a token: whitespace and control characters are escaped.

    >>> display(" the\\n")
    '␣the\\\\n'
    """
    out = []
    for ch in text:
        if ch == " ":
            out.append("␣")
        elif ch in "\n\t\r":
            out.append({"\n": "\\n", "\t": "\\t", "\r": "\\r"}[ch])
        elif not ch.isprintable():
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out)


class CharTokenizer:
    """`stoi` maps character -> id, `itos` maps id -> character."""

    name = "char"

    def __init__(self, chars: list[str]):
        if len(set(chars)) != len(chars) or any(len(c) != 1 for c in chars):
            raise UserError("a char vocabulary must be distinct single characters")
        self.itos: list[str] = list(chars)
        self.stoi: dict[str, int] = {c: i for i, c in enumerate(self.itos)}

    @classmethod
    def train(cls, text: str) -> "CharTokenizer":
        if not text:
            raise UserError("cannot build a char vocabulary from empty text")
        return cls(sorted(set(text)))

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> list[int]:
        try:
            return [self.stoi[c] for c in text]
        except KeyError:
            pos = next(i for i, c in enumerate(text) if c not in self.stoi)
            ch = text[pos]
            raise UserError(f"character {ch!r} (U+{ord(ch):04X}) at position {pos} is not in the "
                             f"char vocabulary ({self.vocab_size} characters of the training text)"
                             ) from None

    def decode(self, ids: list[int]) -> str:
        for i in ids:
            if not 0 <= int(i) < self.vocab_size:
                raise UserError(f"token id {int(i)} is outside the char vocabulary "
                                 f"(0..{self.vocab_size - 1})")
        return "".join(self.itos[int(i)] for i in ids)

    def token_strings(self, ids: list[int]) -> list[str]:
        return [display(self.decode([i])) for i in ids]

    def save(self, directory: str | os.PathLike) -> Path:
        path = Path(directory) / META_FILE
        save_json(path, {"name": self.name, "chars": self.itos})
        return path

    @classmethod
    def load(cls, directory: str | os.PathLike) -> "CharTokenizer":
        path = Path(directory) / META_FILE
        meta = load_json(path)
        chars = meta.get("chars") if isinstance(meta, dict) else None
        if not isinstance(chars, list) or not all(isinstance(c, str) for c in chars):
            raise UserError(f"{path} has no valid 'chars' list")
        return cls(chars)
