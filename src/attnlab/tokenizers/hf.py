"""Any Hugging Face `tokenizers` tokenizer (a `tokenizer.json`), behind attnlab's interface.

`attnlab import-hf` uses it for a model whose vocabulary is neither GPT-2's, a character list,
nor a plain byte-level BPE (those become the `gpt2`, `char` and `bpe` tokenizers):

    >>> tok = HFTokenizer.load("runs/imported/tokenizer")       # doctest: +SKIP
    >>> tok.token_strings(tok.encode("hello world"))              # doctest: +SKIP
    ['hello', 'world']

It is saved and loaded like the bpe tokenizer (tokenizer.json beside attnlab_tokenizer.json).
Unlike bpe, special tokens such as "</s>" are kept by decode, so none silently disappear.
"""

from __future__ import annotations

from attnlab.tokenizers.bpe import BPETokenizer
from attnlab.tokenizers.char import display
from attnlab.errors import UserError


class HFTokenizer(BPETokenizer):
    """A `tokenizers.Tokenizer` loaded from a tokenizer.json written by another library."""

    name = "hf"

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    def decode(self, ids: list[int]) -> str:
        ids = [int(i) for i in ids]
        for i in ids:
            if not 0 <= i < self.vocab_size:
                raise UserError(f"token id {i} is outside the {self.name} vocabulary (0..{self.vocab_size - 1})")
        return self.tokenizer.decode(ids, skip_special_tokens=False)

    def token_strings(self, ids: list[int]) -> list[str]:
        """Each token decoded on its own (a piece of a multi-byte character shows as '\\ufffd')."""
        return [display(self.decode([i])) for i in ids]
