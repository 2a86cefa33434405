"""Capture the attention weights of every layer, under stable dotted names.

    >>> import torch, attnlab
    >>> model = attnlab.GPT(attnlab.GPTConfig(vocab_size=10, max_seq_len=8, d_model=16, n_heads=2, n_layers=2))
    >>> with attnlab.capture_attention(model) as maps:
    ...     logits, _ = model(torch.tensor([[1, 2, 3]]))
    >>> list(maps), tuple(maps["blocks.1.attn"].shape)
    (['blocks.0.attn', 'blocks.1.attn'], (1, 2, 3, 3))

A name is the attention module's path in the model (`named_modules`), so a GPT gives
`blocks.{i}.attn` and a model with `encoder.blocks` / `decoder.blocks` gets its own names with
no code here changing. Each map is (B, H, T, S): batch, heads, queries, keys.

This is `attnlab.record` (attnlab/hooks.py) of every attention's `weights` point, named by the
attention module. While the context is open every `MultiHeadAttention` takes its explicit path
(something is attached to its `weights` point), the model is in eval mode (no dropout; weights
are taken before dropout anyway), and the weights are detached. On exit, even after an
exception, the recorders are detached and every module's train/eval mode is restored, so
outside the context the fast `scaled_dot_product_attention` path runs as before.

Several forwards inside one context (generation with a KV cache, a batch split in two): `maps[name]`
is the LAST forward's weights, and `maps.history[name]` lists every forward's, in order.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Sequence

import torch
import torch.nn as nn

from attnlab.look.hooks import Recording, attach, recorder
from attnlab.model.attention import MultiHeadAttention
from attnlab.errors import UserError


class AttentionMaps(Recording):
    """name -> (B, H, T, S) weights of the last forward; `.history[name]` holds every forward's."""

    def layer(self, i: int) -> torch.Tensor:
        """The i-th captured map in model order (`maps.layer(3)` is `blocks.3.attn` in a GPT)."""
        names = list(self)
        if not -len(names) <= i < len(names):
            raise IndexError(f"layer {i} out of range: {len(names)} attention layers captured")
        return self[names[i]]


def attention_modules(model: nn.Module) -> list[tuple[str, MultiHeadAttention]]:
    """Every MultiHeadAttention in `model`, with its dotted path (model order)."""
    found = [(name or "attn", m) for name, m in model.named_modules() if isinstance(m, MultiHeadAttention)]
    if not found:
        raise UserError(f"{type(model).__name__} contains no MultiHeadAttention to capture")
    return found


@contextmanager
def capture_attention(model: nn.Module) -> Iterator[AttentionMaps]:
    """Collect the attention weights of every layer of `model` while the context is open:
    `attnlab.record(model, "**.weights")` under the attention modules' names, in eval mode."""
    points = {name: m.points.weights for name, m in attention_modules(model)}
    modes = [(m, m.training) for m in model.modules()]
    maps = AttentionMaps()
    try:
        model.eval()
        with attach(points, recorder(maps)):
            yield maps
    finally:
        for m, training in modes:
            m.training = training


@torch.no_grad()
def attention_maps(model: nn.Module, *inputs: torch.Tensor) -> AttentionMaps:
    """Run `model(*inputs)` once without gradients and return its attention weights.

    >>> import attnlab
    >>> model = attnlab.GPT(attnlab.GPTConfig(vocab_size=10, max_seq_len=8, d_model=16, n_heads=2, n_layers=1))
    >>> tuple(attention_maps(model, torch.tensor([[1, 2]]))["blocks.0.attn"].shape)
    (1, 2, 2, 2)
    """
    with capture_attention(model) as maps:
        model(*inputs)
    return maps


def maps_from_hf(outputs: object = None, *, attentions: Sequence[torch.Tensor] | None = None) -> AttentionMaps:
    """Hugging Face `output_attentions=True` results as AttentionMaps with our names.

    `outputs` is a model output (`BertModel(..., output_attentions=True)` or an encoder-decoder
    output); or pass the tuple itself as `attentions=`. Names:
    `attentions` -> `blocks.{i}.attn`, `encoder_attentions` -> `encoder.blocks.{i}.attn`,
    `decoder_attentions` -> `decoder.blocks.{i}.self_attn`, `cross_attentions` ->
    `decoder.blocks.{i}.cross_attn`. The model must be loaded with `attn_implementation="eager"`:
    the fused implementations return no weights (None), which is an error here.
    """
    groups: list[tuple[str, Sequence[torch.Tensor] | None]] = []
    if attentions is not None:
        groups.append(("blocks.{i}.attn", attentions))
    if outputs is not None:
        for field, pattern in (("attentions", "blocks.{i}.attn"),
                               ("encoder_attentions", "encoder.blocks.{i}.attn"),
                               ("decoder_attentions", "decoder.blocks.{i}.self_attn"),
                               ("cross_attentions", "decoder.blocks.{i}.cross_attn")):
            groups.append((pattern, getattr(outputs, field, None)))
    maps = AttentionMaps()
    for pattern, tensors in groups:
        for i, weights in enumerate(tensors or ()):
            if weights is None:
                raise UserError("the model returned no attention weights; load it with "
                                 "attn_implementation=\"eager\" and call it with output_attentions=True")
            if weights.dim() != 4:
                raise UserError(f"expected (B, H, T, S) attention weights, got shape {tuple(weights.shape)}")
            maps.add(pattern.format(i=i), weights.detach())
    if not maps:
        raise UserError("no attention weights found; call the model with output_attentions=True")
    return maps
