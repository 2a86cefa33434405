"""BERT's WordPiece tokenizer, read from a `tokenizer.json` (the `tokenizers` library).

    >>> tok = WordPieceTokenizer(minilm_dir() / "tokenizer.json")     # doctest: +SKIP
    >>> tok.token_strings(tok.encode("I ate an apple"))               # doctest: +SKIP
    ['[CLS]', 'i', 'ate', 'an', 'apple', '[SEP]']
"""

from __future__ import annotations

from pathlib import Path


class WordPieceTokenizer:
    """The attnlab tokenizer interface over a WordPiece `tokenizer.json`. `encode` adds
    [CLS] ... [SEP] and neither truncates nor pads."""

    name = "wordpiece"

    def __init__(self, path: str | Path):
        from tokenizers import Tokenizer

        self._tok = Tokenizer.from_file(str(path))
        self._tok.no_truncation()  # the shipped file truncates and pads to 128; we decide length
        self._tok.no_padding()
        self.vocab_size = self._tok.get_vocab_size()
        self.pad_id = self._tok.token_to_id("[PAD]")

    def encode(self, text: str) -> list[int]:
        return self._tok.encode(text).ids

    def decode(self, ids: list[int]) -> str:
        return self._tok.decode(ids)

    def token_strings(self, ids: list[int]) -> list[str]:
        return [self._tok.id_to_token(i) for i in ids]
