"""Seed 003's shape-flow table, read off one ordinary forward pass of a GPT.

Nothing here is typed by hand or computed a second time: each row is a named point recorded
with `attnlab.record` (the names `record` and `intervene` take), and its shape is the shape of
what the model computed there.
"""

from __future__ import annotations

import torch

from attnlab.look.hooks import record
from attnlab.model.gpt import GPT
from attnlab.errors import UserError

# What happens at each point of block 0, in a few words (see model/block.py for post-LN placement).
WHAT = {
    "embed": "token + position embedding: one C-wide vector per token",
    "ln1": "LayerNorm ln1",
    "attn.q": "Q = x W_Q, split into H heads of D (K, V alike)",
    "attn.k": "K: what each token offers",
    "attn.v": "V: what each token hands over",
    "attn.scores": "Q Kᵀ / sqrt(D), causal mask: every token vs every token",
    "attn.weights": "softmax: each row sums to 1",
    "attn.z": "weights @ V per head (concat: reshape to B, T, C)",
    "attn.out": "W_O (proj): mixes the heads, back to C wide",
    "resid_mid": "residual: x + attention",
    "ln2": "LayerNorm ln2",
    "ffwd.hidden": "FFN up + activation: widened to d_ff",
    "ffwd.out": "FFN down: back to C wide",
    "out": "the block's output: same shape as its input",
    "ln_f": "final LayerNorm",
    "logits": "lm_head: a score for every vocabulary entry",
}


def shape_flow(model: GPT, batch_size: int = 1, seq_len: int = 3,
               generator: torch.Generator | None = None) -> tuple[list[tuple[str, tuple[int, ...], str]], torch.Tensor]:
    """Run random token ids (B, T) through `model`, recording every point of block 0.

    Returns (rows, logits): one row (point name, shape, what happens) per point of the first
    block (later blocks repeat it), and the logits of that forward.
    """
    c = model.config
    if seq_len > c.max_seq_len:
        raise UserError(f"seq_len ({seq_len}) is longer than max_seq_len ({c.max_seq_len})")
    idx = torch.randint(0, c.vocab_size, (batch_size, seq_len), generator=generator)  # (B, T)
    last = f"blocks.{c.n_layers - 1}.out"
    with torch.no_grad(), record(model, "embed", "blocks.0.**", last, "ln_f", "logits") as rec:
        logits, _ = model(idx)  # (B, T, V)
    rows = [("input ids", tuple(idx.shape), "B, T token ids")]
    for name, value in rec.items():
        if name == last and c.n_layers > 1:
            rows.append((f"× {c.n_layers} blocks", tuple(value.shape), "the width stays C: blocks stack"))
        else:
            rows.append((name, tuple(value.shape), WHAT[name.removeprefix("blocks.0.")]))
    return rows, logits


def format_table(rows: list[tuple[str, tuple[int, ...], str]]) -> str:
    width = max(len(step) for step, _, _ in rows)
    shape_width = max(len(str(list(shape))) for _, shape, _ in rows)
    return "\n".join(f"{step:<{width}}  {str(list(shape)):<{shape_width}}  {what}".rstrip()
                     for step, shape, what in rows)
