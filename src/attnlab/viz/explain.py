"""Explain mode: every number of the attention arithmetic, computed by the real code.

    >>> ex = explain_attention(SEED_004["q"], SEED_004["k"], SEED_004["v"], scale=1.0)
    >>> [round(x, 3) for x in ex["weights"][0].tolist()], [round(x, 3) for x in ex["out"][0].tolist()]
    ([0.422, 0.422, 0.155], [0.211, 0.211, 0.078])

An `Explanation` is an ordered list of named steps (`q, k, v, scores, scaled, masked, weights,
out`, and for a model also the embeddings, W_O, residuals, LayerNorms...), each a tensor with
its shape and the formula that made it. The weights and outputs come from `attention()` and
from the model's own modules (`project_qkv`, `proj`, `ln1`, `ffwd`, ...); the tests check that
the explained numbers equal what the model computes. `format_explanation` prints them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn as nn

from attnlab.model.attention import attention, causal_mask
from attnlab.why.norms import contribution_norms, shares

# Seed 004, "나는 사과를 먹었다" (I ate an apple), computed by hand without scaling.
SEED_004 = {
    "tokens": ["나는", "사과를", "먹었다"],
    "q": torch.tensor([[1.0, 0, 0], [0, 1, 0], [0, 0, 1]]),
    "k": torch.tensor([[1.0, 1, 0], [1, 0, 1], [0, 1, 1]]),
    "v": torch.tensor([[0.5, 0, 0], [0, 0.5, 0], [0, 0, 0.5]]),
}
# Seed 000: token 1's hand-set weights over three value vectors.
SEED_000 = {"weights": torch.tensor([[0.1, 0.8, 0.1]]), "values": torch.tensor([[10.0, 10], [100, 100], [5, 5]])}


@dataclass
class Step:
    name: str
    value: torch.Tensor
    formula: str
    token_dim: int | None = None  # the axis that indexes query tokens, if any
    key_dim: int | None = None  # the axis that indexes key tokens (scores, weights)


@dataclass
class Explanation:
    steps: list[Step] = field(default_factory=list)
    tokens: list[str] | None = None  # a label per token (query rows and key columns)
    title: str = ""

    def add(self, name: str, value: torch.Tensor, formula: str, token_dim: int | None = None,
            key_dim: int | None = None) -> torch.Tensor:
        self.steps.append(Step(name, value.detach(), formula, token_dim, key_dim))
        return value

    def __getitem__(self, name: str) -> torch.Tensor:
        for step in self.steps:
            if step.name == name:
                return step.value
        raise KeyError(f"no step {name!r}; steps: {', '.join(self.names())}")

    def names(self) -> list[str]:
        return [s.name for s in self.steps]


def _attention_steps(ex: Explanation, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                     mask: torch.Tensor | None, scale: float | None, t: int) -> torch.Tensor:
    """scores, scaled, masked, weights, out for q (..., T, D), k (..., S, D), v (..., S, Dv);
    `t` is the query-token axis of q. Weights and out are `attention()`'s own."""
    d = q.shape[-1]
    s = 1.0 / math.sqrt(d) if scale is None else scale
    scores = ex.add("scores", q @ k.transpose(-2, -1), "q · kᵀ", t, t + 1)  # (..., T, S)
    why = f"  (1/√{d})" if scale is None else "  (scaling off, as seed 004)" if s == 1.0 else ""
    scaled = ex.add("scaled", scores * s, f"scores × {s:.4g}{why}", t, t + 1)
    if mask is None:
        ex.add("masked", scaled, "no mask: every query sees every key", t, t + 1)
    else:
        ex.add("masked", scaled.masked_fill(~mask, float("-inf")), "-inf where the mask blocks (the future)", t, t + 1)
    out, weights = attention(q, k, v, mask=mask, scale=scale)  # (..., T, Dv), (..., T, S)
    ex.add("weights", weights, "softmax(masked) over keys: each row sums to 1", t, t + 1)
    ex.add("out", out, "weights · v: a weighted sum of the value vectors", t)
    return out


def explain_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None,
                      scale: float | None = None, tokens: list[str] | None = None) -> Explanation:
    """q (T, D), k (S, D), v (S, Dv) -> steps q, k, v, scores, scaled, masked, weights, out.
    `scale=None` divides by √D; `scale=1.0` is seed 004's unscaled hand calculation."""
    q, k, v = (torch.as_tensor(x, dtype=torch.float32) for x in (q, k, v))
    if q.dim() != 2 or k.dim() != 2 or v.dim() != 2:
        raise ValueError("q, k and v must be tables: one vector per token (2-D)")
    if q.shape[1] != k.shape[1]:
        raise ValueError(f"q and k must have the same last dimension, got {q.shape[1]} and {k.shape[1]}")
    if k.shape[0] != v.shape[0]:
        raise ValueError(f"k and v must have one row per token each, got {k.shape[0]} and {v.shape[0]}")
    ex = Explanation(tokens=tokens, title="attention(q, k, v)")
    ex.add("q", q, "the queries: what each token looks for", 0)
    ex.add("k", k, "the keys: what each token offers to be found by", 0)
    ex.add("v", v, "the values: what each token hands over", 0)
    _attention_steps(ex, q, k, v, mask, scale, 0)
    return ex


def explain_weighted_sum(weights: torch.Tensor, values: torch.Tensor, tokens: list[str] | None = None) -> Explanation:
    """Seed 000's form: given weights (T, S) and values (S, Dv) -> out = weights · values (T, Dv).

    >>> explain_weighted_sum(SEED_000["weights"], SEED_000["values"])["out"].tolist()
    [[81.5, 81.5]]
    """
    weights, values = torch.as_tensor(weights, dtype=torch.float32), torch.as_tensor(values, dtype=torch.float32)
    if weights.dim() == 1:
        weights = weights.unsqueeze(0)  # one query's row
    if weights.dim() != 2 or values.dim() != 2 or weights.shape[1] != values.shape[0]:
        raise ValueError(f"weights (T, S) and values (S, Dv) do not fit: {tuple(weights.shape)} and "
                         f"{tuple(values.shape)}")
    ex = Explanation(tokens=tokens, title="weighted sum of values")
    ex.add("weights", weights, "given: how much each query takes from each token", None, 1)
    ex.add("v", values, "given: each token's value vector", 0)
    ex.add("terms", weights.unsqueeze(-1) * values, "weight × value, for every (query, token) pair")  # (T, S, Dv)
    ex.add("out", weights @ values, "sum of the terms over the tokens")  # (T, Dv)
    norms = ex.add("contribution", contribution_norms(weights, values),
                   "‖weight × value‖: how loud each token's voice is in the output", None, 1)  # (T, S)
    ex.add("share", shares(norms), "contribution / its row's sum: each token's share of the output", None, 1)
    return ex


def contribution_sentence(ex: Explanation, row: int = 0) -> str:
    """One line for a weighted-sum explanation: the token with the biggest share of query
    `row`'s output, by norm against by raw weight (Kobayashi et al. 2020).

    >>> ex = explain_weighted_sum(SEED_000["weights"], SEED_000["values"], ["느금마", "만수무강", "ㅇㅈㄹ"])
    >>> print(contribution_sentence(ex))  # doctest: +NORMALIZE_WHITESPACE
    By weight 만수무강 gets 80.0% of 느금마's attention, but its value vector is louder: 98.2% of the
    new 느금마 vector (measured by the length of weight × value) comes from 만수무강.
    """
    weights, share = ex["weights"][row], ex["share"][row]  # (S,)
    j = int(share.argmax())
    def name(i: int) -> str:
        return ex.tokens[i] if ex.tokens is not None and i < len(ex.tokens) else f"token {i}"

    query = name(row)
    louder = "louder" if share[j] >= weights[j] else "quieter"
    return (f"By weight {name(j)} gets {100 * weights[j]:.1f}% of {query}'s attention, but its value vector is "
            f"{louder}: {100 * share[j]:.1f}% of the new {query} vector (measured by the length of weight × value) "
            f"comes from {name(j)}.")


def _embed_steps(ex: Explanation, model: nn.Module, idx: torch.Tensor) -> torch.Tensor:
    """The model's embedding stage, step by step; returns the first block's input (B, T, C)."""
    T = idx.shape[1]
    pos = torch.arange(T, device=idx.device)
    if hasattr(model, "token_embedding_table"):  # GPT
        tok = ex.add("tok_emb", model.token_embedding_table(idx), "token_embedding_table[ids]", 1)  # (B, T, C)
        p = ex.add("pos_emb", model.position_embedding_table(pos), "position_embedding_table[0..T-1]", 0)  # (T, C)
        return ex.add("embeddings", model.drop(tok + p), "tok_emb + pos_emb", 1)  # (B, T, C)
    if hasattr(model, "word_embeddings"):  # Encoder (BERT)
        tok = ex.add("tok_emb", model.word_embeddings(idx), "word_embeddings[ids]", 1)
        p = ex.add("pos_emb", model.position_embeddings(pos), "position_embeddings[0..T-1]", 0)
        tt = ex.add("type_emb", model.token_type_embeddings(torch.zeros_like(idx)), "token_type_embeddings[0]", 1)
        return ex.add("embeddings", model.embed_norm(tok + p + tt), "LayerNorm(tok_emb + pos_emb + type_emb)", 1)
    raise ValueError(f"explain does not know how {type(model).__name__} embeds tokens")


@torch.no_grad()
def explain_model(model: nn.Module, idx: torch.Tensor, layer: int, head: int,
                  tokens: list[str] | None = None) -> Explanation:
    """Every intermediate of block `layer`, head `head`, for ids (1, T): seed 003's shape flow
    with real values. Works for `GPT` (pre- or post-LN) and `Encoder`; runs in eval mode."""
    blocks = model.blocks
    if not 0 <= layer < len(blocks):
        raise ValueError(f"layer {layer} out of range: the model has layers 0..{len(blocks) - 1}")
    attn = blocks[layer].attn
    if not 0 <= head < attn.n_heads:
        raise ValueError(f"head {head} out of range: the model has heads 0..{attn.n_heads - 1}")
    B, T = idx.shape
    was_training = model.training
    model.eval()
    try:
        ex = Explanation(tokens=tokens, title=f"layer {layer}, head {head}")
        ex.add("ids", idx, "token ids", 1)
        x = _embed_steps(ex, model, idx)
        for block in blocks[:layer]:
            x = block(x)  # (B, T, C)
        block = blocks[layer]
        x = ex.add("x", x, f"input of block {layer}" + (f" (after blocks 0..{layer - 1})" if layer else ""), 1)
        pre = block.norm == "pre"
        h = ex.add("ln1", block.ln1(x), "ln1(x): pre-LN normalises before attention", 1) if pre else x
        C, H, D = attn.d_model, attn.n_heads, attn.d_head
        ex.add("qkv", attn.qkv(h), f"h · [W_Q | W_K | W_V] + b: {C} -> 3×{C}", 1)  # (B, T, 3C)
        q_all, k_all, v_all = attn.project_qkv(h)  # (B, H, T, D) each
        ex.add("q_heads", q_all, f"Q split into {H} heads of {D}", 2)
        q = ex.add("q", q_all[:, head], f"head {head}'s queries", 1)  # (B, T, D)
        k = ex.add("k", k_all[:, head], f"head {head}'s keys", 1)
        v = ex.add("v", v_all[:, head], f"head {head}'s values", 1)
        mask = causal_mask(T, device=idx.device) if attn.causal else None
        _attention_steps(ex, q, k, v, mask, None, 1)
        heads, _ = attention(q_all, k_all, v_all, mask=mask)  # (B, H, T, D)
        ex.add("heads_out", heads, f"the same for all {H} heads", 2)
        concat = ex.add("concat", heads.transpose(1, 2).reshape(B, T, C), "concat over heads", 1)  # (B, T, C)
        attn_out = ex.add("attn_out", attn.proj(concat), "concat · W_O + b: mixes the heads", 1)
        r1 = ex.add("residual1", x + attn_out, "x + attn_out (residual)", 1)
        if pre:
            f_in = ex.add("ln2", block.ln2(r1), "ln2(residual1)", 1)
            f = ex.add("ffwd", block.ffwd(f_in), "down(act(up(ln2)))", 1)
            out = ex.add("block_out", r1 + f, "residual1 + ffwd (residual)", 1)
        else:
            n1 = ex.add("ln1", block.ln1(r1), "ln1(residual1): post-LN, seed 003's Residual + LayerNorm", 1)
            f = ex.add("ffwd", block.ffwd(n1), "down(act(up(ln1)))", 1)
            r2 = ex.add("residual2", n1 + f, "ln1 + ffwd (residual)", 1)
            out = ex.add("block_out", block.ln2(r2), "ln2(residual2)", 1)
        for later in blocks[layer + 1:]:
            out = later(out)  # (B, T, C)
        if hasattr(model, "lm_head"):
            ex.add("logits", model.lm_head(model.ln_f(out)), f"blocks {layer + 1}.. → ln_f → lm_head", 1)
        else:
            ex.add("hidden", out, f"after blocks {layer + 1}..{len(blocks) - 1}", 1)
        return ex
    finally:
        model.train(was_training)


# ---- plain-text formatting -------------------------------------------------------------------

def _num(x: float | int, decimals: int) -> str:
    if isinstance(x, int):  # token ids
        return str(x)
    return "-inf" if x == float("-inf") else f"{x:.{decimals}f}"


def _summary(t: torch.Tensor, decimals: int, head: int = 6) -> str:
    shown = ", ".join(_num(x, decimals) for x in t.flatten()[:head].tolist())
    flat = t.flatten().float()
    finite = flat[torch.isfinite(flat)]
    stats = f"mean {finite.mean():.{decimals}f} std {finite.std(unbiased=False):.{decimals}f}" if len(finite) else ""
    return f"[{shown}{', ...' if len(flat) > head else ''}]  {stats}"


def _label(tokens: list[str] | None, i: int) -> str:
    return f"{i}:{tokens[i]}" if tokens is not None and i < len(tokens) else str(i)


def _format_step(step: Step, tokens: list[str] | None, token: int | None, decimals: int, max_cols: int) -> list[str]:
    t = step.value
    tdim, kdim = step.token_dim, step.key_dim
    if t.dim() >= 2 and t.shape[0] == 1 and tdim not in (None, 0):  # batch of one: drop it for display
        t, tdim, kdim = t[0], tdim - 1, None if kdim is None else kdim - 1
    row_of = None
    if token is not None and tdim is not None and t.dim() > 1:
        t, row_of = t.select(tdim, token), token
        if kdim is not None:
            kdim -= 1 if kdim > tdim else 0
        tdim = None
    if t.dim() == 0 or t.numel() == 1:
        return [f"    {_num(t.item(), decimals)}"]
    prefix = f"    {_label(tokens, row_of)}: " if row_of is not None else "    "
    if t.dim() == 1 and kdim is not None and t.numel() <= 4 * max_cols:  # one query's row over the keys
        cells = [f"{_label(tokens, j)}={_num(x, decimals)}" for j, x in enumerate(t.tolist())]
        return [(prefix if i == 0 else " " * len(prefix)) + "  ".join(cells[i:i + 8]) for i in range(0, len(cells), 8)]
    if t.dim() == 1 and t.numel() <= max_cols:
        return [prefix + "[" + ", ".join(_num(x, decimals) for x in t.tolist()) + "]"]
    if t.dim() == 2 and t.shape[0] <= 16 and t.shape[1] <= max_cols:
        lines = []
        if kdim == 1 and tokens is not None:
            lines.append("    " + " " * 12 + " ".join(f"{_label(tokens, j)[:8]:>8}" for j in range(t.shape[1])))
        for i, row in enumerate(t.tolist()):
            name = _label(tokens, i) if tdim == 0 else str(i)
            lines.append(f"    {name[:12]:<12}" + " ".join(f"{_num(x, decimals):>8}" for x in row))
        return lines
    where = f" (token {_label(tokens, row_of)})" if row_of is not None else ""
    return [f"    {_summary(t, decimals)}{where}"]


def format_explanation(ex: Explanation, token: int | None = None, decimals: int = 3, max_cols: int = 16) -> str:
    """Plain text, one block per step: name, shape, formula, values. Tensors too large for a
    table are summarised (first values, mean, std); `token` shows only that query's row."""
    lines = [ex.title] if ex.title else []
    if ex.tokens is not None:
        lines.append("tokens: " + "  ".join(_label(ex.tokens, i) for i in range(len(ex.tokens))))
    width = max(len(s.name) for s in ex.steps)
    for step in ex.steps:
        shape = "(" + ", ".join(str(n) for n in step.value.shape) + ")"
        lines.append(f"{step.name:<{width}}  {shape:<16} {step.formula}")
        lines.extend(_format_step(step, ex.tokens, token, decimals, max_cols))
    return "\n".join(lines)
