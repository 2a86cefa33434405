"""Byte-level BPE (byte-pair encoding), trained with the Hugging Face `tokenizers` library.

Text is first turned into UTF-8 bytes, so any string can be encoded (no unknown tokens).
Training starts from the 256 single bytes and repeatedly merges the most frequent adjacent
pair into a new token until `vocab_size` tokens exist:

    text "aaabdaaabac", start with bytes  a a a b d a a a b a c
    most frequent pair (a, a) -> "aa":    aa a b d aa a b a c
    next (aa, a) -> "aaa":                aaa b d aaa b a c
    next (aaa, b) -> "aaab":              aaab d aaab a c         (3 merges, 259 tokens)

    >>> tok = BPETokenizer.train("aaabdaaabac " * 20, vocab_size=259)
    >>> tok.token_strings(tok.encode("aaabdaaabac"))
    ['aaab', 'd', 'aaab', 'a', 'c']
    >>> tok.decode(tok.encode("안녕 🙂"))
    '안녕 🙂'

Like GPT-2, words are split before merging (so merges never cross a space or punctuation) and
a space is glued to the start of the following word: " the" is one token, shown as "␣the".
Unlike GPT-2, a word is at most MAX_WORD_BYTES long: a text without spaces (random letters,
or Korean or Chinese written without them) would otherwise be one word megabytes long, which
every merge rescans, so training time would grow with the square of the text. With the cut,
it grows linearly (benchmarks/bpe_training.py). The cut is part of the saved tokenizer, so
encoding, and Hugging Face's tokenizer after `attnlab export-hf`, split the same way.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

from attnlab.io import atomic_write, save_json
from attnlab.tokenizers.char import META_FILE, display
from attnlab.errors import UserError

HF_FILE = "tokenizer.json"
DEFAULT_VOCAB_SIZE = 1024
N_BYTES = 256  # the initial alphabet: every byte is a token
MAX_WORD_BYTES = 64  # a longer pre-tokenized word is cut into pieces of this many bytes


def bounded_byte_level_pre_tokenizer() -> pre_tokenizers.PreTokenizer:
    """GPT-2's split into words and bytes, then every word cut into pieces of at most
    MAX_WORD_BYTES bytes (after ByteLevel, one character stands for one byte)."""
    return pre_tokenizers.Sequence([
        pre_tokenizers.ByteLevel(add_prefix_space=False),
        pre_tokenizers.Split(Regex(rf"[\s\S]{{1,{MAX_WORD_BYTES}}}"), behavior="isolated"),
    ])


def max_vocab_size(pre_tokenizer: pre_tokenizers.PreTokenizer, pieces: Iterable[str]) -> int:
    """The most tokens byte-level BPE can reach on this text: the 256 bytes plus one merge per
    adjacent pair of bytes inside each distinct word (a merge joins two tokens of at least one
    word; a word of n bytes can be joined n - 1 times). An upper bound: a merge can shorten
    many words at once.

    >>> max_vocab_size(pre_tokenizers.ByteLevel(add_prefix_space=False), ["ab ab"])  # 'ab', ' ab'
    259
    """
    words: set[str] = set()
    for piece in pieces:
        words.update(word for word, _ in pre_tokenizer.pre_tokenize_str(piece))
    return N_BYTES + sum(len(word) - 1 for word in words)


def _byte_level_decoder() -> dict[str, int]:
    """GPT-2's map from the printable stand-in characters of token strings back to bytes.

    Byte-level BPE renders every byte as a visible character ("Ġ" is the space byte 0x20);
    this inverts that table so a token can be shown as the text it stands for.
    """
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]
    stand_ins = {b: chr(b) for b in printable}
    shifted = (b for b in range(256) if b not in stand_ins)
    stand_ins.update({b: chr(256 + n) for n, b in enumerate(shifted)})
    return {c: b for b, c in stand_ins.items()}


class BPETokenizer:
    """A byte-level BPE `tokenizers.Tokenizer` behind attnlab's small tokenizer interface."""

    name = "bpe"

    def __init__(self, tokenizer: Tokenizer):
        self.tokenizer = tokenizer
        self._bytes_of = _byte_level_decoder()

    @staticmethod
    def empty_byte_level(model: models.BPE) -> Tokenizer:
        """A Tokenizer that splits like GPT-2 and maps bytes to visible characters."""
        tokenizer = Tokenizer(model)
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()
        return tokenizer

    @classmethod
    def train(cls, text: str, vocab_size: int | None = None) -> "BPETokenizer":
        """Learn merges on `text` until there are vocab_size tokens. A vocab_size the text
        cannot reach is refused: before training when it exceeds `max_vocab_size`, after it
        when the merges run out sooner (every word already one token)."""
        vocab_size = DEFAULT_VOCAB_SIZE if vocab_size is None else vocab_size
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < N_BYTES:
            raise UserError(f"a byte-level BPE vocab_size ({vocab_size}) must be an integer of at least "
                             f"{N_BYTES}, one token per byte")
        if not text:
            raise UserError("cannot train a BPE tokenizer on empty text")
        tokenizer = cls.empty_byte_level(models.BPE())
        tokenizer.pre_tokenizer = bounded_byte_level_pre_tokenizer()
        lines = text.splitlines(keepends=True)
        chunks = lambda: ("".join(lines[i:i + 1000]) for i in range(0, len(lines), 1000))  # noqa: E731
        reachable = max_vocab_size(tokenizer.pre_tokenizer, chunks())
        if vocab_size > reachable:
            raise UserError(f"a BPE vocab_size of {vocab_size:,} is more than this text can give: at most "
                             f"{reachable:,} tokens from its {len(text):,} characters")
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, show_progress=False,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
        tokenizer.train_from_iterator(chunks(), trainer, length=len(lines) // 1000 + 1)
        if tokenizer.get_vocab_size() < vocab_size:
            raise UserError(f"this text gives only {tokenizer.get_vocab_size():,} BPE tokens (by then every "
                             f"word is one token), not {vocab_size:,}: ask for at most that many")
        return cls(tokenizer)

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size()

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text).ids

    def decode(self, ids: list[int]) -> str:
        ids = [int(i) for i in ids]
        bad = [i for i in ids if not 0 <= i < self.vocab_size]
        if bad:
            raise UserError(f"token id {bad[0]} is outside the {self.name} vocabulary "
                             f"(0..{self.vocab_size - 1})")
        return self.tokenizer.decode(ids)

    def token_bytes(self, token_id: int) -> bytes:
        """The bytes one token stands for: 'Ġthe' -> b' the'."""
        return bytes(self._bytes_of[c] for c in self.tokenizer.id_to_token(int(token_id)))

    def token_strings(self, ids: list[int]) -> list[str]:
        """Labels per token; a token holding part of a character shows its bytes, e.g. '\\xf0\\x9f'."""
        self.decode(ids)  # range check
        return [display(self.token_bytes(i).decode("utf-8", errors="backslashreplace")) for i in ids]

    def save(self, directory: str | os.PathLike) -> Path:
        directory = Path(directory)
        atomic_write(directory / HF_FILE, lambda tmp: self.tokenizer.save(tmp))
        return save_json(directory / META_FILE, {"name": self.name, "file": HF_FILE})

    @classmethod
    def load(cls, directory: str | os.PathLike) -> "BPETokenizer":
        path = Path(directory) / HF_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found")
        try:
            tokenizer = Tokenizer.from_file(str(path))
        except Exception as exc:  # tokenizers raises a bare Exception for bad JSON
            raise UserError(f"{path} is not a valid tokenizers file ({str(exc).splitlines()[0]})") from None
        return cls(tokenizer)
