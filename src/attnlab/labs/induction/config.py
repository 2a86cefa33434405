"""The induction lab's settings (`attnlab induction` takes its defaults from here, so this module
imports neither torch nor the model)."""

from __future__ import annotations

from dataclasses import dataclass

from attnlab.config import TrainConfig, setting
from attnlab.errors import UserError
from attnlab.labs.shape import Lab

# a head is an induction (previous-token) head above this score: the lab and `heads --detect` alike
THRESHOLD = 0.4


@dataclass
class LabConfig:
    """The lab's settings; the defaults form an induction head in the 2-layer model in minutes on a
    CPU. Each field is a flag of `attnlab induction` and a key of the web lab's Induction panel."""

    layers: tuple[int, ...] = setting((1, 2), "layer counts, one model each (1,2 or 1 2)")
    vocab_size: int = setting(32, "tokens in the vocabulary")
    d_model: int = setting(64, "model width")
    n_heads: int = setting(4, "attention heads per layer")
    tie_weights: bool = setting(False, "share the embedding with the unembedding (off: copying need not "
                                       "fight the embedding)")
    block_size: int = setting(32, "training windows; the repeated test sequence is 2n <= block_size tokens")
    min_len: int = setting(2, "shortest chunk of the training stream")
    max_len: int = setting(16, "longest chunk of the training stream")
    max_gap: int = setting(8, "random tokens between a chunk and its copy")
    distinct: bool = setting(True, "new tokens as shuffled decks of the vocabulary")
    echo: float = setting(0.15, "share of new tokens that repeat the token two back (\"a b a\")")
    stream_tokens: int = setting(1_000_000, "tokens of the training stream")
    batch_size: int = setting(64, "windows per step")
    steps: int = setting(1500, "training steps per model")
    learning_rate: float = setting(2e-3, "AdamW learning rate (constant after the warm-up)")
    warmup_iters: int = setting(100, "steps of linear warm-up")
    weight_decay: float = setting(0.0, "AdamW weight decay")
    n: int = setting(16, "length of the random sequence repeated at evaluation")
    eval_batch: int = setting(64, "repeated sequences per evaluation")
    eval_interval: int = setting(25, "score the heads every N steps")
    threshold: float = setting(THRESHOLD, "a head is an induction / previous-token head above this score")
    random_draws: int = setting(5, "random sets of heads ablated to compare with the detected ones")
    seed: int = setting(0, "weights, data and random heads")
    out_dir: str = setting("runs/induction", "where the report goes")

    def __post_init__(self) -> None:
        self.layers = tuple(self.layers)
        if self.steps < 1 or self.eval_interval < 1:
            raise UserError("--steps and --eval-interval must be >= 1")
        if not self.layers or any(layers < 1 for layers in self.layers):
            raise UserError(f"--layers must be positive layer counts, got {self.layers}")
        if not 2 <= self.n <= min(self.vocab_size, self.block_size // 2):
            raise UserError(f"n ({self.n}) must be in 2 .. min(vocab_size, block_size // 2) = "
                             f"{min(self.vocab_size, self.block_size // 2)}")
        if not 0.0 < self.threshold < 1.0:
            raise UserError(f"threshold must be in (0, 1), got {self.threshold}")
        if self.random_draws < 1:
            raise UserError(f"random_draws must be >= 1, got {self.random_draws}")
        self.train_config(max(self.layers))  # checks the model and schedule fields

    def train_config(self, n_layers: int) -> TrainConfig:
        """The project's TrainConfig for the attention-only model with `n_layers` layers (constant
        learning rate after warmup)."""
        return TrainConfig(corpus="induction-stream", n_layers=n_layers, n_heads=self.n_heads, d_model=self.d_model,
                           block_size=self.block_size, ffn=False, tie_weights=self.tie_weights,
                           batch_size=self.batch_size, max_iters=self.steps,
                           learning_rate=self.learning_rate, min_lr=self.learning_rate,
                           warmup_iters=self.warmup_iters, weight_decay=self.weight_decay,
                           eval_interval=self.eval_interval, device="cpu", seed=self.seed)


# The lab: `attnlab induction` and the web lab's Induction panel run it.
LAB = Lab("induction", LabConfig, runner="attnlab.labs.induction.lab:run",
          reporter="attnlab.labs.induction.report:report")
