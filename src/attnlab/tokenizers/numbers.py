"""The numbers tokenizer of the grokking lab: one token per number 0 .. p-1, and '='.

    >>> tok = NumberTokenizer(5)
    >>> tok.encode("3 4 ="), tok.decode([3, 4, 5]), tok.vocab_size
    ([3, 4, 5], '3 4 =', 6)

Tokens are separated by whitespace; anything else is an error that names the token.
"""

from __future__ import annotations

import os
from pathlib import Path

from attnlab.errors import UserError
from attnlab.io import load_json, save_json
from attnlab.tokenizers.char import META_FILE


class NumberTokenizer:
    name = "numbers"

    def __init__(self, p: int):
        if isinstance(p, bool) or not isinstance(p, int) or p < 2:
            raise UserError(f"a numbers tokenizer needs p >= 2, got {p!r}")
        self.p = p
        self.itos = [str(i) for i in range(p)] + ["="]
        self.stoi = {s: i for i, s in enumerate(self.itos)}

    @property
    def vocab_size(self) -> int:
        return self.p + 1

    def encode(self, text: str) -> list[int]:
        ids = []
        for position, token in enumerate(text.split()):
            if token not in self.stoi:
                raise UserError(f"token {token!r} at position {position} is not a number 0..{self.p - 1} or '='")
            ids.append(self.stoi[token])
        return ids

    def decode(self, ids: list[int]) -> str:
        for i in ids:
            if not 0 <= int(i) < self.vocab_size:
                raise UserError(f"token id {int(i)} is outside the numbers vocabulary (0..{self.p})")
        return " ".join(self.itos[int(i)] for i in ids)

    def token_strings(self, ids: list[int]) -> list[str]:
        return [self.itos[int(i)] for i in ids]

    def save(self, directory: str | os.PathLike) -> Path:
        path = Path(directory) / META_FILE
        save_json(path, {"name": self.name, "p": self.p})
        return path

    @classmethod
    def load(cls, directory: str | os.PathLike) -> "NumberTokenizer":
        path = Path(directory) / META_FILE
        meta = load_json(path)
        p = meta.get("p") if isinstance(meta, dict) else None
        if isinstance(p, bool) or not isinstance(p, int) or p < 2:
            raise UserError(f"{path} has no valid 'p'")
        return cls(p)
