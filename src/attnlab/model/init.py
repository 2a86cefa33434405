"""A GPT's initial weights, by `GPTConfig.init`.

- "gpt2":  GPT-2's N(0, 0.02), zero biases, and the projections that end each residual branch
           (W_O, the feed-forward layer's `down`) at 0.02 / sqrt(2 * n_layers), so the residual
           stream's variance does not grow with depth (two residual additions per block).
- "torch": every module keeps PyTorch's own initialisation, as in the GPT lecture.
- "lecun": every weight N(0, 1/fan_in) (an embedding's fan-in is d_model), zero biases: the
           scale of Nanda et al.'s grokking model.
"""

from __future__ import annotations

import math

import torch.nn as nn


def gpt2_weights(module: nn.Module) -> None:
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)


def lecun_weights(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, mean=0.0, std=module.in_features ** -0.5)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.normal_(module.weight, mean=0.0, std=module.embedding_dim ** -0.5)


def initialise(model: nn.Module, scheme: str) -> None:
    """Initialise a GPT's weights in place by `scheme` ("gpt2", "torch" or "lecun")."""
    if scheme == "torch":
        return
    if scheme == "lecun":
        model.apply(lecun_weights)
        return
    model.apply(gpt2_weights)
    for block in model.blocks:
        for proj in (block.attn.proj, getattr(block.ffwd, "down", None)):
            if isinstance(proj, nn.Linear):  # not W_O when attn_proj=False, nor an absent ffwd
                nn.init.normal_(proj.weight, mean=0.0, std=0.02 / math.sqrt(2 * len(model.blocks)))
