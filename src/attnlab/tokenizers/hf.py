"""Any Hugging Face `tokenizers` tokenizer (a `tokenizer.json`), behind attnlab's interface.

`attnlab import-hf` uses it for a model whose vocabulary is neither GPT-2's nor a character
list (the other cases become the `gpt2` and `char` tokenizers):

    >>> tok = HFTokenizer.load("runs/imported/tokenizer")       # doctest: +SKIP
    >>> tok.token_strings(tok.encode("Hello world"))              # doctest: +SKIP
    ['Hello', '␣world']

Special tokens are kept in the text (`decode(..., skip_special_tokens=False)`), so nothing is
silently dropped between encode and decode.
"""

from __future__ import annotations

import os
from pathlib import Path

from tokenizers import Tokenizer

from attnlab.io import atomic_write, save_json
from attnlab.tokenizers.char import META_FILE, display

HF_FILE = "tokenizer.json"


class HFTokenizer:
    """A `tokenizers.Tokenizer` loaded from a tokenizer.json written by another library."""

    name = "hf"

    def __init__(self, tokenizer: Tokenizer):
        self.tokenizer = tokenizer

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size(with_added_tokens=True)

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    def decode(self, ids: list[int]) -> str:
        ids = [int(i) for i in ids]
        bad = [i for i in ids if not 0 <= i < self.vocab_size]
        if bad:
            raise ValueError(f"token id {bad[0]} is outside the {self.name} vocabulary "
                             f"(0..{self.vocab_size - 1})")
        return self.tokenizer.decode(ids, skip_special_tokens=False)

    def token_strings(self, ids: list[int]) -> list[str]:
        """Each token decoded on its own (a piece of a multi-byte character shows as '\\ufffd')."""
        return [display(self.decode([i])) for i in ids]

    def save(self, directory: str | os.PathLike) -> Path:
        directory = Path(directory)
        atomic_write(directory / HF_FILE, lambda tmp: self.tokenizer.save(tmp))
        return save_json(directory / META_FILE, {"name": self.name, "file": HF_FILE})

    @classmethod
    def load(cls, directory: str | os.PathLike) -> "HFTokenizer":
        path = Path(directory) / HF_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found")
        try:
            tokenizer = Tokenizer.from_file(str(path))
        except Exception as exc:  # tokenizers raises a bare Exception for bad JSON
            raise ValueError(f"{path} is not a valid tokenizers file ({str(exc).splitlines()[0]})") from None
        return cls(tokenizer)
