"""The interchangeable parts of a block, by the name a config gives: one row each.

A config field names the part (`GPTConfig.norm`, `GPTConfig.activation`); `make_block` asks here
for the modules and hands them to a `Block`. A new kind is its module and one row below (and its
name in attnlab.config).

    norm         "pre" / "post": nn.LayerNorm, before or after each sublayer; "none": nn.Identity
    activation   "relu" (seed 001), "gelu" (BERT, nanoGPT), "gelu_tanh" (GPT-2's "gelu_new")
    position     "learned": nn.Embedding (seed 001, GPT-2); "sinusoidal": fixed waves (seed 002)
"""

from __future__ import annotations

import torch.nn as nn

from attnlab.config import ACTIVATIONS, NORMS, POSITIONS, check_choice
from attnlab.errors import UserError
from attnlab.model.attention import MultiHeadAttention
from attnlab.model.block import Block
from attnlab.model.embeddings import SinusoidalPositionTable
from attnlab.model.feedforward import FeedForward

ACTIVATION_MODULES = {  # one per name in attnlab.config.ACTIVATIONS
    "relu": lambda: nn.ReLU(),
    "gelu": lambda: nn.GELU(),
    "gelu_tanh": lambda: nn.GELU(approximate="tanh"),
}


def make_activation(name: str) -> nn.Module:
    return ACTIVATION_MODULES[check_choice("activation", name, ACTIVATIONS)]()


POSITION_MODULES = {  # one per name in attnlab.config.POSITIONS: (max_len, d_model) -> positions (T,) -> (T, C)
    "learned": nn.Embedding,
    "sinusoidal": SinusoidalPositionTable,
}


def make_position(name: str, max_len: int, d_model: int) -> nn.Module:
    return POSITION_MODULES[check_choice("position", name, POSITIONS)](max_len, d_model)


def check_norm(norm: str, choices: tuple[str, ...] = NORMS) -> str:
    if norm not in choices:
        raise UserError(f"unknown norm {norm!r}; choose one of {', '.join(choices)} (pre: seed 001, GPT-2; "
                        f"post: seed 003, BERT; none: no LayerNorm)")
    return norm


def make_norm(norm: str, d_model: int, eps: float = 1e-5, bias: bool = True) -> nn.Module:
    """A LayerNorm, or an identity when norm="none" (the lecture's blocks before its LayerNorm step)."""
    return nn.Identity() if check_norm(norm) == "none" else nn.LayerNorm(d_model, eps=eps, bias=bias)


def make_block(d_model: int, n_heads: int, d_ff: int | None = None, activation: str = "relu", norm: str = "pre",
               causal: bool = True, dropout: float = 0.0, bias: bool = True, qkv_bias: bool | None = None,
               layer_norm_eps: float = 1e-5, ffn: bool = True, residual: bool = True,
               attn_proj: bool = True) -> Block:
    """A `Block` from names: its attention, feed-forward layer (none with ffn=False: the lecture
    before its feed-forward step) and norms. norm="none" takes the pre-LN path with identities."""
    attn = MultiHeadAttention(d_model, n_heads, causal=causal, bias=bias, qkv_bias=qkv_bias, dropout=dropout,
                              proj=attn_proj)
    ffwd = FeedForward(d_model, d_ff, act=make_activation(activation), dropout=dropout, bias=bias) if ffn else None
    ln1 = make_norm(norm, d_model, layer_norm_eps, bias)
    ln2 = make_norm(norm, d_model, layer_norm_eps, bias) if ffn else None
    return Block(attn, ffwd, ln1, ln2, pre_norm=norm != "post", residual=residual, dropout=dropout)
