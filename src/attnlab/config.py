"""Configuration dataclasses. Only top-level models take a config; components take arguments."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, TypeVar

C = TypeVar("C")


def config_from_dict(cls: type[C], data: dict[str, Any], source: str = "config") -> C:
    """Build a dataclass from a dict; an unknown key is an error that names it."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"unknown {source} key(s): {', '.join(unknown)} (known: {', '.join(sorted(names))})")
    return cls(**data)


@dataclass
class GPTConfig:
    """A decoder-only language model (seed 001's `GPT`, or GPT-2 exactly).

    The defaults are GPT-2's architecture at a small size; `GPTConfig.seed()` is seed 001's.
    """

    vocab_size: int = 50257  # GPT-2's tokenizer (the seed's vocab_size)
    max_seq_len: int = 256  # the seed's block_size: how many positions the model has
    d_model: int = 128  # the seed's n_embd
    n_heads: int = 4
    n_layers: int = 4
    d_ff: int | None = None  # None: 4 * d_model
    activation: str = "gelu_tanh"  # "relu" (seed 001), "gelu", "gelu_tanh" (GPT-2)
    norm: str = "pre"  # "pre" (seed 001, GPT-2) or "post" (seed 003)
    dropout: float = 0.0
    bias: bool = True  # biases in Linear and LayerNorm layers
    qkv_bias: bool = True  # seed 001's key/query/value have none
    tie_weights: bool = True  # GPT-2 shares the token embedding with lm_head
    lm_head_bias: bool = False  # seed 001's lm_head is a plain nn.Linear, with a bias
    layer_norm_eps: float = 1e-5

    def __post_init__(self) -> None:
        for name in ("vocab_size", "max_seq_len", "d_model", "n_heads", "n_layers"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.d_model % self.n_heads != 0:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        from attnlab.model.block import check_norm
        from attnlab.model.feedforward import make_activation

        check_norm(self.norm)
        make_activation(self.activation)

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_heads

    @classmethod
    def seed(cls, vocab_size: int = 50257, max_seq_len: int = 8, **overrides: Any) -> "GPTConfig":
        """Seed 001's model: n_embd 64, 4 heads of 16, 4 layers, ReLU, bias-free q/k/v,
        a separate lm_head (an nn.Linear, so with a bias)."""
        fields = dict(vocab_size=vocab_size, max_seq_len=max_seq_len, d_model=64, n_heads=4, n_layers=4,
                      activation="relu", qkv_bias=False, tie_weights=False, lm_head_bias=True)
        fields.update(overrides)
        return cls(**fields)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "GPTConfig":
        return config_from_dict(cls, data, "model config")


@dataclass
class Seq2SeqConfig:
    """An encoder-decoder transformer (seed 002). The defaults are seed 002's model:
    `nn.Transformer(d_model=16, nhead=2, 2 + 2 layers, dim_feedforward=32)`, post-LN, ReLU,
    dropout 0.1, continuous inputs (a vocab size of 0 means `Linear(1, d_model)` in and
    `Linear(d_model, 1)` out instead of an embedding table and a vocabulary head)."""

    src_vocab_size: int = 0  # 0: continuous source values (B, S, 1)
    tgt_vocab_size: int = 0  # 0: continuous target values (B, T, 1), trained with MSE
    max_seq_len: int = 5000  # rows in the positional-encoding table (seed 002's max_len)
    d_model: int = 16
    n_heads: int = 2
    n_encoder_layers: int = 2
    n_decoder_layers: int = 2
    d_ff: int = 32
    activation: str = "relu"
    norm: str = "post"  # nn.Transformer's default (norm_first=False); "pre" = norm_first=True
    dropout: float = 0.1  # nn.Transformer's default
    layer_norm_eps: float = 1e-5

    def __post_init__(self) -> None:
        for name in ("max_seq_len", "d_model", "n_heads", "n_encoder_layers", "n_decoder_layers", "d_ff"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name in ("src_vocab_size", "tgt_vocab_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be 0 (continuous) or a positive integer, got {value!r}")
        if (self.src_vocab_size == 0) != (self.tgt_vocab_size == 0):
            raise ValueError("src_vocab_size and tgt_vocab_size must both be 0 (continuous) or both positive")
        if self.d_model % self.n_heads != 0:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")
        if self.d_model % 2 != 0:
            raise ValueError(f"d_model ({self.d_model}) must be even for the sinusoidal positional encoding")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        from attnlab.model.block import check_norm
        from attnlab.model.feedforward import make_activation

        check_norm(self.norm)
        make_activation(self.activation)

    @property
    def continuous(self) -> bool:
        return self.src_vocab_size == 0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Seq2SeqConfig":
        return config_from_dict(cls, data, "seq2seq model config")
