"""Seed 003's shape-flow table, filled in by running the real modules on a dummy batch.

Nothing here is typed by hand: each shape is read off a tensor the model computed.
"""

from __future__ import annotations

import torch

from attnlab.model.attention import attention, causal_mask
from attnlab.model.gpt import GPT


def shape_flow(model: GPT, batch_size: int = 1, seq_len: int = 3,
               generator: torch.Generator | None = None) -> tuple[list[tuple[str, tuple[int, ...], str]], torch.Tensor]:
    """Run random token ids (B, T) through `model` step by step.

    Returns (rows, logits): one row (step, shape, what happens) per step of the first block
    (later blocks repeat it), and the logits, equal to `model(idx)[0]`.
    """
    c = model.config
    if seq_len > c.max_seq_len:
        raise ValueError(f"seq_len ({seq_len}) is longer than max_seq_len ({c.max_seq_len})")
    rows: list[tuple[str, tuple[int, ...], str]] = []

    def row(step: str, t: torch.Tensor, what: str) -> torch.Tensor:
        rows.append((step, tuple(t.shape), what))
        return t

    B, T, C, H, D = batch_size, seq_len, c.d_model, c.n_heads, c.d_head
    idx = row("input ids", torch.randint(0, c.vocab_size, (B, T), generator=generator), "B, T token ids")
    with torch.no_grad():
        tok = row("token embedding", model.token_embedding_table(idx), "one C-wide vector per token")
        x = row("+ position embedding", tok + model.position_embedding_table(torch.arange(T)), "x: (B, T, C)")
        for i, block in enumerate(model.blocks):
            step = row if i == 0 else (lambda name, t, what: t)  # later blocks repeat block 0
            h = step("LayerNorm (pre-LN)", block.ln1(x), "ln1(x)") if block.norm == "pre" else x
            q, k, v = block.attn.qkv(h).split(C, dim=-1)
            step("Q = x W_Q (also K, V)", q, "three Linear(C, C) views of every token")
            q = step("split heads", q.view(B, T, H, D).transpose(1, 2), f"{H} heads of D = {D}")
            k = k.view(B, T, H, D).transpose(1, 2)  # (B, H, T, D)
            v = v.view(B, T, H, D).transpose(1, 2)  # (B, H, T, D)
            step("scores Q Kᵀ / sqrt(D)", q @ k.transpose(-2, -1) / D ** 0.5, "every token vs every token")
            out, weights = attention(q, k, v, mask=causal_mask(T))
            step("softmax (causal) → weights", weights, "each row sums to 1")
            step("weights @ V", out, "per head: a weighted sum of values")
            out = step("concat heads", out.transpose(1, 2).reshape(B, T, C), "back to C wide")
            attn_out = step("W_O (proj)", block.attn.proj(out), "mixes the heads")
            if block.norm == "pre":
                x = step("residual x + attn", x + attn_out, "")
                up = step("FFN up + activation", block.ffwd.act(block.ffwd.up(block.ln2(x))), "ln2, widen")
                x = step("FFN down, residual", x + block.ffwd.down(up), "back to C, added to x")
            else:
                x = step("residual + LayerNorm", block.ln1(x + attn_out), "x = LayerNorm(x + attn)")
                up = step("FFN up + activation", block.ffwd.act(block.ffwd.up(x)), "widen")
                x = step("FFN down, residual + LayerNorm", block.ln2(x + block.ffwd.down(up)), "")
        if c.n_layers > 1:
            rows.append((f"× {c.n_layers} blocks", tuple(x.shape), "the width stays C: blocks stack"))
        x = row("ln_f", model.ln_f(x), "final LayerNorm")
        logits = row("lm_head → logits", model.lm_head(x), "a score for every vocabulary entry")
    return rows, logits


def format_table(rows: list[tuple[str, tuple[int, ...], str]]) -> str:
    width = max(len(step) for step, _, _ in rows)
    shape_width = max(len(str(list(shape))) for _, shape, _ in rows)
    return "\n".join(f"{step:<{width}}  {str(list(shape)):<{shape_width}}  {what}".rstrip()
                     for step, shape, what in rows)
