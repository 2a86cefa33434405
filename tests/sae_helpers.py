"""What the sparse autoencoder lab's tests share: activations built from planted directions, a
tiny GPT, and the small flags of `attnlab sae` on a tiny run."""

from __future__ import annotations

import torch

from attnlab.config import GPTConfig
from attnlab.model.gpt import GPT

KOREAN = "대한민국은 민주공화국이다. 모든 권력은 국민으로부터 나온다.\n" * 20
SAE_FLAGS = ["--tokens", "1024", "--eval-tokens", "256", "--batch-size", "64", "--resample-every", "4", "--threads", "1"]


def planted(n: int = 24, d: int = 16, tokens: int = 20000, p: float = 0.04, seed: int = 0):
    """Activations built from n planted unit directions (d,): each present with probability p at
    a uniform [0.5, 1.5] strength -> (x (tokens, d), directions (n, d))."""
    g = torch.Generator().manual_seed(seed)
    directions = torch.randn(n, d, generator=g)
    directions /= directions.norm(dim=1, keepdim=True)
    present = torch.rand(tokens, n, generator=g) < p
    strength = 0.5 + torch.rand(tokens, n, generator=g)
    return (present * strength) @ directions, directions


def tiny_gpt(seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=11, max_seq_len=8, d_model=8, n_heads=2, n_layers=2, activation="relu")).eval()
