"""The settings of one `attnlab seq2seq` run, checked when they are built.

Each field is a flag of `attnlab seq2seq` (`min_len` is `--min-len`), so a message names the
flag. Fields that default to None take the task's default from `task_defaults`, the one place
where the regression and the token tasks differ:

    >>> Seq2SeqRunConfig().d_model, Seq2SeqRunConfig(task="copy").d_model
    (16, 64)
    >>> Seq2SeqRunConfig(task="sort", d_model=32).d_ff, Seq2SeqRunConfig(task="sort").steps
    (64, 2000)

This module needs no torch: `attnlab --help` reads its defaults.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from attnlab.config import Seq2SeqConfig, check_types, setting
from attnlab.errors import UserError
from attnlab.labs.shape import Lab

TOKEN_TASKS = ("plus2", "copy", "reverse", "sort")
REGRESSION_TASK = "plus2-regression"
MAX_LEN_LIMIT = 64
MAX_VOCAB = 1000
MAX_SEED = 2**32  # batches are drawn with seed * 1_000_003 + step, which must fit in 64 bits
REGRESSION_LEN = 5000  # seed 002's positional-encoding table (max_len=5000)

# Settings that define a run: on --resume they come from its config.json, and a flag given with
# another value is refused. Every other setting (steps, eval_size, beam, png, ...) may change.
RUN_SETTINGS = ("task", "vocab", "min_len", "max_len", "d_model", "n_heads", "n_layers", "d_ff", "norm",
                "dropout", "lr", "warmup", "batch_size", "seed")
PICTURES = {"png": ((".png", ".svg", ".pdf"), ".png, .svg or .pdf"), "pe_png": ((".png",), ".png")}  # can draw


def task_defaults(task: str, d_model: int | None = None) -> dict[str, Any]:
    """The defaults that depend on the task: seed 002's model and 500 epochs for the regression,
    a wider pre-LN model for the token tasks (d_ff twice the width; sort needs more steps)."""
    if task == REGRESSION_TASK:
        return dict(d_model=16, n_heads=2, d_ff=32, norm="post", dropout=0.1, lr=1e-3, steps=500)
    width = 64 if d_model is None else d_model
    return dict(d_model=64, n_heads=4, d_ff=2 * width, norm="pre", dropout=0.0, lr=2e-3,
                steps=2000 if task == "sort" else 800)


def check_token_task(name: str, vocab: int, min_len: int, max_len: int) -> None:
    """A token task's name, values and lengths (TokenTask checks itself with this too)."""
    if name not in TOKEN_TASKS:
        raise UserError(f"unknown task {name!r}; choose one of {', '.join(TOKEN_TASKS)}, {REGRESSION_TASK}")
    if not 2 <= vocab <= MAX_VOCAB:
        raise UserError(f"vocab must be in [2, {MAX_VOCAB}], got {vocab}")
    if not 1 <= min_len <= max_len <= MAX_LEN_LIMIT:
        raise UserError(f"lengths must satisfy 1 <= min_len ({min_len}) <= max_len ({max_len}) <= {MAX_LEN_LIMIT}")


def flag(name: str) -> str:
    """The command-line flag of a field: flag("min_len") == "--min-len"."""
    return "--" + name.replace("_", "-")


@dataclass
class Seq2SeqRunConfig:
    """Everything one seq2seq run needs: the task, the model, training, evaluation and outputs.

    The defaults are seed 002's program (the +2 regression); `task_defaults` gives the token
    tasks theirs. The model itself is `model_config()`, a `Seq2SeqConfig`.
    """

    # the task (vocab and lengths: token tasks only)
    task: str = setting(REGRESSION_TASK, f"{REGRESSION_TASK} or one of {', '.join(TOKEN_TASKS)}")
    vocab: int = setting(10, "token tasks: values 0..vocab-1")
    min_len: int = setting(1, "token tasks: shortest sequence")
    max_len: int = setting(10, "token tasks: longest sequence")
    # the model (None: the task's default, task_defaults)
    d_model: int | None = setting(None, f"model width (default: 16 for {REGRESSION_TASK}, 64 for the token tasks)")
    n_heads: int | None = setting(None, f"attention heads (default: 2 for {REGRESSION_TASK}, 4 for the token tasks)")
    n_layers: int = setting(2, "encoder layers and decoder layers, each")
    d_ff: int | None = setting(None, f"feed-forward width (default: 32 for {REGRESSION_TASK}, 2 * d_model for the "
                                     f"token tasks)")
    norm: str | None = setting(None, f"pre or post (default: post for {REGRESSION_TASK}, pre for the token tasks; "
                                     f"post is nn.Transformer's)")
    dropout: float | None = setting(None, f"dropout probability (default: 0.1 for {REGRESSION_TASK}, 0.0 for the "
                                          f"token tasks; 0.1 is nn.Transformer's)")
    # training: Adam; token tasks warm up linearly, then decay along a cosine to lr / 10
    steps: int | None = setting(None, f"optimizer steps (default: 500 epochs for {REGRESSION_TASK}, 2000 for sort, "
                                      f"800 for the other token tasks)")
    lr: float | None = setting(None, f"Adam learning rate (default: 0.001 for {REGRESSION_TASK}, 0.002 for the "
                                     f"token tasks)")
    warmup: int = setting(100, "token tasks: linear warmup steps, then cosine decay")
    batch_size: int = setting(128, "token tasks: sequences per step")
    seed: int = setting(0, "random seed of the weights and the batches, 0 <= seed < 2**32")
    # evaluation (token tasks): held-out sequences, decoded greedily or with a beam
    eval_size: int = setting(1000, "held-out sequences for the exact-match accuracy")
    beam: int = setting(1, "beam width for evaluation, 1 = greedy")
    examples: int = setting(5, "example predictions to print")
    # outputs and hardware
    out: str | None = setting(None, "run folder (runs/<name>): checkpoint + config.json")
    resume: bool = setting(False, "continue the run in --out up to --steps")
    save_every: int = setting(500, "checkpoint every N steps, with --out")
    png: str | None = setting(None, "write the cross-attention map of one held-out example here (.png, .svg or .pdf)")
    pe_png: str | None = setting(None, "also draw the sinusoidal positional-encoding table here (.png)")
    threads: int = setting(1, "CPU threads for torch (0: PyTorch's own choice); tiny models run fastest on one")

    def __post_init__(self) -> None:
        if self.task != REGRESSION_TASK and self.task not in TOKEN_TASKS:
            raise UserError(f"unknown task {self.task!r}; choose {REGRESSION_TASK}, {', '.join(TOKEN_TASKS)}")
        for name, value in task_defaults(self.task, self.d_model).items():
            if getattr(self, name) is None:
                setattr(self, name, value)
        lr = self.lr  # checked before check_types, so that a bad one names the flag
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not (math.isfinite(lr) and lr > 0):
            raise UserError(f"--lr must be a finite number > 0, got {lr}")
        check_types(self)
        self._check_ranges()
        self._check_outputs()
        if not self.regression:
            check_token_task(self.task, self.vocab, self.min_len, self.max_len)
        vocab = 0 if self.regression else 1  # a placeholder: the task fixes the vocabularies
        self.model_config(vocab, vocab)  # checks the model's sizes (d_model % n_heads, ...)

    def _check_ranges(self) -> None:
        for name in ("steps", "batch_size", "eval_size", "beam", "save_every", "n_layers"):
            if getattr(self, name) < 1:
                raise UserError(f"{flag(name)} must be >= 1, got {getattr(self, name)}")
        for name in ("warmup", "examples", "threads"):
            if getattr(self, name) < 0:
                raise UserError(f"{flag(name)} must be >= 0, got {getattr(self, name)}")
        if self.threads > (os.cpu_count() or 1) * 8:
            raise UserError(f"--threads {self.threads} is far more than this machine's {os.cpu_count()} CPUs")
        if not 0 <= self.seed < MAX_SEED:
            raise UserError(f"--seed must be in [0, 2**32), got {self.seed}")

    def _check_outputs(self) -> None:
        for name, (suffixes, formats) in PICTURES.items():
            path = getattr(self, name)
            if path is not None and Path(path).suffix.lower() not in suffixes:
                raise UserError(f"{flag(name)} {path}: the file name must end in {formats}")
        if self.resume and not self.out:
            raise UserError("--resume needs --out (the run folder to continue)")
        if self.resume and self.regression:
            raise UserError(f"--resume is for the token tasks; {REGRESSION_TASK} trains in seconds")

    @classmethod
    def changeable(cls) -> list[str]:
        """The settings --resume may change: every one but those that define the run."""
        return [f.name for f in fields(cls) if f.name not in (*RUN_SETTINGS, "out", "resume")]

    @property
    def regression(self) -> bool:
        """Seed 002's +2 regression (continuous values), not a token task."""
        return self.task == REGRESSION_TASK

    def model_config(self, src_vocab_size: int = 0, tgt_vocab_size: int = 0) -> Seq2SeqConfig:
        """The model this run trains, once the task has fixed its vocabularies (0, 0: continuous
        values, the regression)."""
        return Seq2SeqConfig(
            src_vocab_size=src_vocab_size, tgt_vocab_size=tgt_vocab_size,
            max_seq_len=REGRESSION_LEN if self.regression else self.max_len + 1,
            d_model=self.d_model, n_heads=self.n_heads, n_encoder_layers=self.n_layers,
            n_decoder_layers=self.n_layers, d_ff=self.d_ff, norm=self.norm, dropout=self.dropout,
        )


# The lab: `attnlab seq2seq` and the web lab's Seq2seq panel run it.
LAB = Lab("seq2seq", Seq2SeqRunConfig, runner="attnlab.labs.seq2seq.lab:run", reporter="attnlab.labs.seq2seq.lab:report")

