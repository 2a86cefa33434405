"""The settings of sampling, free of torch (`attnlab generate --help` and `attnlab next --help` read
them): what to continue, and how the next token is drawn, checked in one place for both commands
and the web lab."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from attnlab.config import setting
from attnlab.errors import UserError
from attnlab.labs.shape import Lab

MAX_SEED = 2 ** 63
MAX_N = 100


def check_sampling(temperature: float, top_k: int | None, top_p: float | None) -> None:
    """The one check of how a token is drawn: `attnlab generate`, `attnlab next` and the web lab's
    sampling panels (the web lab adds its own caps: serve/api_tools.py).

    >>> check_sampling(0.0, 0, 1.0)       # greedy; top-k 0 and top-p 1 keep every token
    >>> check_sampling(0.8, 200, 1.5)
    Traceback (most recent call last):
    ...
    attnlab.errors.UserError: --top-p must be in (0, 1], got 1.5
    """
    if not math.isfinite(temperature) or temperature < 0:
        raise UserError(f"--temperature must be a finite number >= 0 (0 is greedy), got {temperature}",
                        code="out_of_range")
    if top_p is not None and not 0.0 < top_p <= 1.0:
        raise UserError(f"--top-p must be in (0, 1], got {top_p}", code="out_of_range")
    if top_k is not None and top_k < 0:
        raise UserError(f"--top-k must be >= 0, got {top_k}", code="out_of_range")


def kept_by(top_k: int | None, top_p: float | None) -> tuple[int | None, float | None]:
    """(top_k, top_p) as attnlab.generate takes them: None where every token is kept (top-k 0,
    top-p 1)."""
    return top_k or None, None if top_p is None or top_p >= 1 else top_p


TEMPERATURE = "softmax temperature; 0 is greedy"
TOP_K = "sample among the k most likely tokens (0 or none: all)"
TOP_P = "nucleus sampling: the smallest set of tokens whose probabilities reach p (none or 1: all)"
PROMPT = "text to continue (none: a newline, or the vocabulary's first token when it has no newline)"


@dataclass
class GenerateSettings:
    """Every field is a flag of `attnlab generate` and a key of the web lab's `POST /api/generate`
    (which names the run itself, sends the prompt as "text" and streams one sample)."""

    run: str | None = setting(None, "a run folder written by `attnlab train`, e.g. runs/cpu-shakespeare-char")
    checkpoint: str | None = setting(None, "a run folder's model.safetensors (its folder holds the config and "
                                           "tokenizer)")
    prompt: str | None = setting(None, PROMPT)
    max_new_tokens: int = setting(500, "tokens to sample per sample")
    temperature: float = setting(0.8, TEMPERATURE)
    top_k: int | None = setting(200, TOP_K)
    top_p: float | None = setting(None, TOP_P)
    seed: int = setting(1337, "random seed (same seed, same text)")
    num_samples: int = setting(1, "how many samples to draw")

    def __post_init__(self) -> None:
        if (self.run is None) == (self.checkpoint is None):
            raise UserError("name the model: --run DIR or --checkpoint FILE", code="no_model")
        if self.max_new_tokens < 0 or self.num_samples < 1:
            raise UserError("--max-new-tokens must be >= 0 and --num-samples >= 1", code="out_of_range")
        check_sampling(self.temperature, self.top_k, self.top_p)
        if not 0 <= self.seed < MAX_SEED:
            raise UserError(f"--seed must be in [0, 2**63), got {self.seed}", code="out_of_range")

    def folder(self) -> Path:
        """The run folder: --run, or the folder of --checkpoint (a model.safetensors or a checkpoint folder)."""
        from attnlab.runs.folder import CHECKPOINT_DIR

        if self.run is not None:
            return Path(self.run)
        folder = Path(self.checkpoint)
        if folder.suffix == ".safetensors":
            folder = folder.parent
        if CHECKPOINT_DIR.match(folder.name):  # runs/<name>/checkpoint-000250/
            folder = folder.parent
        return folder


@dataclass
class NextSettings:
    """Every field is a flag of `attnlab next` and a key of the web lab's Sample panel (which names
    the run itself and sends the prompt as "text"). The defaults are `attnlab generate`'s: what it
    draws its first token from."""

    run: str = setting("", "a training run folder (runs/<name>) holding a GPT")
    prompt: str | None = setting(None, PROMPT)
    temperature: float = setting(0.8, TEMPERATURE)
    top_k: int | None = setting(200, TOP_K)
    top_p: float | None = setting(None, TOP_P)
    n: int = setting(30, f"the likeliest next tokens shown, 1..{MAX_N}")

    def __post_init__(self) -> None:
        if not self.run:
            raise UserError("name the run folder: --run DIR")
        check_sampling(self.temperature, self.top_k, self.top_p)
        if not 1 <= self.n <= MAX_N:
            raise UserError(f"--n is {self.n}; it must be in 1..{MAX_N}", code="out_of_range")


# `attnlab generate` and the web lab's stream run GENERATE; `attnlab next` and the Sample panel NEXT.
GENERATE = Lab("generate", GenerateSettings, runner="attnlab.labs.sampling.run:generate",
               reporter="attnlab.labs.sampling.run:report_generate")
NEXT = Lab("next", NextSettings, runner="attnlab.labs.sampling.run:next_tokens",
           reporter="attnlab.labs.sampling.run:report_next")
