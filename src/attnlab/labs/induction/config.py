"""The induction lab's settings (`attnlab induction` takes its defaults from here, so this module
imports neither torch nor the model)."""

from __future__ import annotations

from dataclasses import dataclass

from attnlab.config import TrainConfig
from attnlab.errors import UserError


@dataclass
class LabConfig:
    """The lab's settings; the defaults form an induction head in the 2-layer model in minutes on a CPU."""

    layers: tuple[int, ...] = (1, 2)  # one model per entry: its number of layers
    vocab_size: int = 32
    d_model: int = 64
    n_heads: int = 4
    tie_weights: bool = False  # a separate unembedding: copying need not fight the embedding
    block_size: int = 32  # training windows; the repeated test sequence is 2n <= block_size tokens
    min_len: int = 2  # chunk lengths of the training stream (data.repeat_stream)
    max_len: int = 16
    max_gap: int = 8  # random tokens between a chunk and its copy
    distinct: bool = True  # new tokens as shuffled decks of the vocabulary
    echo: float = 0.15  # share of new tokens that repeat the token two back ("a b a")
    stream_tokens: int = 1_000_000
    batch_size: int = 64
    steps: int = 1500
    learning_rate: float = 2e-3
    warmup_iters: int = 100
    weight_decay: float = 0.0
    n: int = 16  # length of the random sequence that is repeated at evaluation
    eval_batch: int = 64
    eval_interval: int = 25
    threshold: float = 0.4  # a head "is" an induction / previous-token head above this score
    random_draws: int = 5
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.layers or any(layers < 1 for layers in self.layers):
            raise UserError(f"layers must be positive layer counts, got {self.layers}")
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
