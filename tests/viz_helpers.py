"""Attention maps and token strings the renderer tests draw."""

import torch

HOSTILE = "<script>alert(1)</script> \"q\" & 'x'"
KOREAN = ["나는", "사과를", "먹었다"]


def softmax_maps(L: int, H: int, T: int, S: int | None = None, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(L, H, T, S or T, generator=g) * 2).softmax(-1)  # (L, H, T, S)
