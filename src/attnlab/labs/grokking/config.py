"""The grokking lab's settings (Nanda et al. 2023's by default), free of torch so that
`attnlab grokking --help` can show them without loading it."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from attnlab.config import GPTConfig, TrainConfig, setting
from attnlab.errors import UserError
from attnlab.labs.shape import Lab

DTYPES = ("fp32", "bf16", "auto")


def is_prime(n: int) -> bool:
    """Whether n is a prime.

    >>> [n for n in range(20) if is_prime(n)]
    [2, 3, 5, 7, 11, 13, 17, 19]
    """
    return n >= 2 and all(n % d for d in range(2, int(n ** 0.5) + 1))


def check_split(p: int, train_fraction: float) -> int:
    """-> the number of training pairs; both the training and the test split must be non-empty."""
    n_train = int(train_fraction * p * p)
    if not 1 <= n_train < p * p:
        raise UserError(f"--train-fraction {train_fraction} leaves {n_train} of the {p * p} pairs for training "
                        f"and {p * p - n_train} for the test: both need at least one")
    return n_train


@dataclass
class GrokConfig:
    """The lab's model and training settings (Nanda et al.'s by default): what grokking.json
    records, and what a resumed run must repeat."""

    p: int = setting(113, "the modulus, a prime >= 3")
    train_fraction: float = setting(0.3, "share of the p * p pairs trained on")
    steps: int = setting(25000, "full-batch training steps")
    weight_decay: float = setting(1.0, "AdamW weight decay")
    lr: float = setting(1e-3, "AdamW learning rate (constant after the warm-up)")
    seed: int = setting(0, "weights and the split")
    eval_interval: int = setting(100, "evaluate (and checkpoint) every N steps")
    warmup: int = setting(10, "steps of linear learning-rate warm-up")
    dtype: str = setting("fp32", "the training step's matmuls: fp32, bf16 (autocast; fast only on a CPU with "
                                 "AVX-512 BF16 or AMX) or auto (bf16 where the CPU has it, else fp32)")

    def __post_init__(self) -> None:
        if isinstance(self.p, bool) or not isinstance(self.p, int) or self.p < 3 or not is_prime(self.p):
            raise UserError(f"--p must be a prime >= 3 (the Fourier basis over Z_p needs it), got {self.p}")
        if not 0.0 < self.train_fraction < 1.0:
            raise UserError(f"--train-fraction must be in (0, 1), got {self.train_fraction}")
        check_split(self.p, self.train_fraction)
        if self.dtype not in DTYPES:
            raise UserError(f"--dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        for name in ("steps", "eval_interval"):
            if getattr(self, name) < 1:
                raise UserError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if not (self.lr > 0 and math.isfinite(self.lr)) or not (self.weight_decay >= 0 and
                                                                math.isfinite(self.weight_decay)):
            raise UserError(f"--lr must be > 0 and --weight-decay >= 0 (finite), got {self.lr} and "
                            f"{self.weight_decay}")

    def model_config(self) -> GPTConfig:
        return self.train_config().model_config(self.p + 1)

    def train_config(self, dtype: str = "fp32") -> TrainConfig:
        """The run's TrainConfig (config.json's "train"): the paper's model and optimiser; `dtype` is
        the one training runs in (self.dtype, with "auto" resolved: `lab.training_dtype`).

        init="lecun" (every weight N(0, 1/fan_in), as Nanda et al.'s W / sqrt(d)) rather than GPT-2's
        N(0, 0.02): from GPT-2's small weights the model was measured to learn train and test pairs
        together, slowly, instead of memorising first (benchmarks/README.md)."""
        return TrainConfig(corpus=f"modular-addition-{self.p}", n_layers=1, n_heads=4, d_model=128, d_ff=512,
                           block_size=3, activation="relu", norm="none", tie_weights=False, qkv_bias=False,
                           init="lecun",  # N(0, 1/fan_in): the paper's scale (see below)
                           batch_size=int(self.train_fraction * self.p * self.p), max_iters=self.steps,
                           learning_rate=self.lr, min_lr=self.lr, warmup_iters=self.warmup,
                           weight_decay=self.weight_decay, beta1=0.9, beta2=0.98, grad_clip=0.0,
                           eval_interval=self.eval_interval, device="cpu", dtype=dtype, seed=self.seed)


@dataclass
class GrokSettings(GrokConfig):
    """A grokking run: the lab's settings and where it goes. Each field is a flag of `attnlab
    grokking` and a key of the web lab's Grokking panel (which picks out_dir, resume and
    overwrite itself)."""

    out_dir: str = setting("runs/grokking", "the run folder")
    resume: bool = setting(False, "continue the run in OUT_DIR")
    overwrite: bool = setting(False, "replace the run in OUT_DIR (only attnlab's files)")
    png: bool = setting(True, "draw grokking.png: loss, accuracy, spectrum, neurons")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.resume and self.overwrite:
            raise UserError("--resume and --overwrite exclude each other")

    @property
    def mode(self) -> str:
        return "resume" if self.resume else "overwrite" if self.overwrite else "new"

    def lab_config(self) -> GrokConfig:
        """The GrokConfig part (what grokking.json records)."""
        return GrokConfig(**{f.name: getattr(self, f.name) for f in fields(GrokConfig)})


# The lab: `attnlab grokking` and the web lab's Grokking panel run it.
LAB = Lab("grokking", GrokSettings, runner="attnlab.labs.grokking.run:run",
          reporter="attnlab.labs.grokking.run:report")
