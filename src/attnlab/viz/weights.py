"""What every attention view draws: a stack of weights (L, H, T, S) and its token labels.

The renderers (png, html, terminal) take data, never models. This module turns the forms
the data comes in into one shape and checks it against the token lists:

- a matrix (T, S), one head (H, T, S), or a stack (L, H, T, S), as a torch tensor or numpy;
- `capture_attention`'s dict {"blocks.0.attn": (1, H, T, S), ...} (names become layer names);
- Hugging Face `output_attentions`: a tuple of L tensors (1, H, T, S).

>>> import numpy as np
>>> stack = attention_stack(np.full((2, 2), 0.5), ["a", "b"])
>>> stack.weights.shape, stack.layer_names, stack.tokens_k
((1, 1, 2, 2), ['layer 0'], ['a', 'b'])
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
from attnlab.errors import UserError


@dataclass
class AttentionStack:
    weights: np.ndarray  # (L, H, T, S) float32
    tokens_q: list[str]  # T labels, one per query (row)
    tokens_k: list[str]  # S labels, one per key (column)
    layer_names: list[str]  # L names

    def head(self, layer: int, head: int) -> np.ndarray:
        """The (T, S) matrix of one head, with a clear error when out of range."""
        L, H = self.weights.shape[:2]
        if not 0 <= layer < L:
            raise UserError(f"layer {layer} out of range: there are {L} layers (0..{L - 1})")
        if not 0 <= head < H:
            raise UserError(f"head {head} out of range: there are {H} heads (0..{H - 1})")
        return self.weights[layer, head]  # (T, S)


def _to_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor, on any device and dtype
        x = x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=np.float32)


def _per_layer(x: Any, name: str) -> np.ndarray:
    """One layer's weights as (H, T, S); a batch of one is squeezed."""
    a = _to_numpy(x)
    if a.ndim == 4:
        if a.shape[0] != 1:
            raise UserError(f"{name} holds a batch of {a.shape[0]} sequences; pass one, e.g. weights[i:i+1]")
        a = a[0]  # (H, T, S)
    if a.ndim != 3:
        raise UserError(f"{name} must have shape (1, H, T, S) or (H, T, S), got {tuple(a.shape)}")
    return a


def attention_stack(weights: Any, tokens_q: Sequence[str], tokens_k: Sequence[str] | None = None,
                    layer_names: Sequence[str] | None = None) -> AttentionStack:
    """Normalise `weights` to (L, H, T, S) and check the token lists match T and S.

    `tokens_k=None` means self-attention: the keys are the queries.
    """
    if isinstance(weights, Mapping):
        names = [str(k) for k in weights]
        layers = [_per_layer(v, n) for n, v in zip(names, weights.values())]
    elif isinstance(weights, (list, tuple)):
        names = [f"layer {i}" for i in range(len(weights))]
        layers = [_per_layer(v, f"layer {i}") for i, v in enumerate(weights)]
    else:
        a = _to_numpy(weights)
        if a.ndim < 2 or a.ndim > 4:
            raise UserError(f"weights must have shape (T, S), (H, T, S) or (L, H, T, S), got {tuple(a.shape)}")
        a = a.reshape((1,) * (4 - a.ndim) + a.shape)  # (L, H, T, S)
        names = [f"layer {i}" for i in range(a.shape[0])]
        layers = list(a)
    if not layers:
        raise UserError("no attention weights to show")
    shapes = {tuple(x.shape) for x in layers}
    if len(shapes) != 1:
        raise UserError(f"layers differ in shape {sorted(shapes)}: show self- and cross-attention separately")
    stack = np.stack(layers).astype(np.float32)  # (L, H, T, S)
    if 0 in stack.shape[2:]:
        raise UserError("no tokens to show")
    if not np.isfinite(stack).all():
        raise UserError("weights contain NaN or infinity")
    if stack.min() < -1e-3 or stack.max() > 1 + 1e-3:
        raise UserError(f"attention weights lie in [0, 1], got values from {stack.min():.3g} to "
                         f"{stack.max():.3g} (scores before softmax?)")
    stack = np.clip(stack, 0.0, 1.0)
    if layer_names is not None:
        names = [str(n) for n in layer_names]
        if len(names) != stack.shape[0]:
            raise UserError(f"{len(names)} layer names for {stack.shape[0]} layers")
    tokens_q = [str(t) for t in tokens_q]
    tokens_k = tokens_q if tokens_k is None else [str(t) for t in tokens_k]
    T, S = stack.shape[2:]
    if len(tokens_q) != T:
        raise UserError(f"{len(tokens_q)} query tokens for weights with {T} rows")
    if len(tokens_k) != S:
        raise UserError(f"{len(tokens_k)} key tokens for weights with {S} columns")
    return AttentionStack(stack, tokens_q, tokens_k, names)


def visible(token: str) -> str:
    """A label that shows what the token is: control characters escaped (a newline token
    reads `\\n`, and an ANSI escape cannot colour the terminal), a blank token shown as `␣`.

    >>> visible("\\n"), visible("  "), visible("it")
    ('\\\\n', '␣␣', 'it')
    """
    if token and not token.strip(" "):
        return "␣" * len(token)
    escapes = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}
    out = []
    for ch in token:
        if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp"):
            o = ord(ch)
            out.append(escapes.get(ch, f"\\x{o:02x}" if o < 256 else f"\\u{o:04x}"))
        else:
            out.append(ch)
    return "".join(out)
