"""Explain mode: every number of the attention arithmetic, computed by the real code.

    >>> ex = explain_attention(SEED_004["q"], SEED_004["k"], SEED_004["v"], scale=1.0)
    >>> [round(x, 3) for x in ex["weights"][0].tolist()], [round(x, 3) for x in ex["out"][0].tolist()]
    ([0.422, 0.422, 0.155], [0.211, 0.211, 0.078])

An `Explanation` is an ordered list of named steps, each a tensor with its shape and the formula
that made it. For vectors you type in (`explain_attention`), the steps are `q, k, v, scores,
scaled, masked, weights, out`, computed by `attention()`. For a model (`explain_model`), the
steps are the model's own named points (`embed`, `blocks.1.ln1`, `blocks.1.attn.q`, ...,
`logits`), recorded with `attnlab.record` during one ordinary forward pass: nothing here
computes a block a second time, so what is shown is what the model computed, under the names
`attnlab.record` and `attnlab.intervene` use. The record itself is attnlab.explanation's, and
`format_explanation` (viz/explain_text.py) prints it.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from attnlab.model.gpt import is_gpt
from attnlab.errors import UserError
from attnlab.explanation import Explanation
from attnlab.look.hooks import record
from attnlab.look.norms import contribution_norms, shares
from attnlab.model.attention import attention

# Seed 004, "나는 사과를 먹었다" (I ate an apple), computed by hand without scaling.
SEED_004 = {
    "tokens": ["나는", "사과를", "먹었다"],
    "q": torch.tensor([[1.0, 0, 0], [0, 1, 0], [0, 0, 1]]),
    "k": torch.tensor([[1.0, 1, 0], [1, 0, 1], [0, 1, 1]]),
    "v": torch.tensor([[0.5, 0, 0], [0, 0.5, 0], [0, 0, 0.5]]),
}
# Seed 000: token 1's hand-set weights over three value vectors.
SEED_000 = {"weights": torch.tensor([[0.1, 0.8, 0.1]]), "values": torch.tensor([[10.0, 10], [100, 100], [5, 5]])}


def explain_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None,
                      scale: float | None = None, tokens: list[str] | None = None) -> Explanation:
    """q (T, D), k (S, D), v (S, Dv) -> steps q, k, v, scores, scaled, masked, weights, out.
    `scale=None` divides by √D; `scale=1.0` is seed 004's unscaled hand calculation."""
    q, k, v = (torch.as_tensor(x, dtype=torch.float32) for x in (q, k, v))
    if q.dim() != 2 or k.dim() != 2 or v.dim() != 2:
        raise UserError("q, k and v must be tables: one vector per token (2-D)")
    if q.shape[1] != k.shape[1]:
        raise UserError(f"q and k must have the same last dimension, got {q.shape[1]} and {k.shape[1]}")
    if k.shape[0] != v.shape[0]:
        raise UserError(f"k and v must have one row per token each, got {k.shape[0]} and {v.shape[0]}")
    ex = Explanation(tokens=tokens, title="attention(q, k, v)")
    ex.add("q", q, "the queries: what each token looks for", 0)
    ex.add("k", k, "the keys: what each token offers to be found by", 0)
    ex.add("v", v, "the values: what each token hands over", 0)
    d = q.shape[-1]
    s = 1.0 / math.sqrt(d) if scale is None else scale
    scores = ex.add("scores", q @ k.T, "q · kᵀ", 0, 1)  # (T, S)
    why = f"  (1/√{d})" if scale is None else "  (scaling off, as seed 004)" if s == 1.0 else ""
    scaled = ex.add("scaled", scores * s, f"scores × {s:.4g}{why}", 0, 1)
    if mask is None:
        ex.add("masked", scaled, "no mask: every query sees every key", 0, 1)
    else:
        ex.add("masked", scaled.masked_fill(~mask, float("-inf")), "-inf where the mask blocks (the future)", 0, 1)
    out, weights = attention(q, k, v, mask=mask, scale=scale)  # (T, Dv), (T, S)
    ex.add("weights", weights, "softmax(masked) over keys: each row sums to 1", 0, 1)
    ex.add("out", out, "weights · v: a weighted sum of the value vectors", 0)
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
        raise UserError(f"weights (T, S) and values (S, Dv) do not fit: {tuple(weights.shape)} and "
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


# ---- a model: its named points, recorded --------------------------------------------------------

# (token, key, head) axes of each kind of point; the rest are (B, T, width): token axis 1.
AXES = {"attn.q": (2, None, 1), "attn.k": (2, None, 1), "attn.v": (2, None, 1), "attn.scores": (2, 3, 1),
        "attn.weights": (2, 3, 1), "attn.z": (1, None, 2)}

# What each point of a block holds, by LayerNorm placement (see model/block.py).
BLOCK_FORMULAS = {
    "pre": {"ln1": "ln1(x): pre-LN normalises the block's input before attention",
            "resid_mid": "x + attn.out (residual)",
            "ln2": "ln2(resid_mid): the feed-forward's input",
            "out": "resid_mid + ffwd.out (residual): the block's output"},
    "post": {"resid_mid": "x + attn.out (residual), before the LayerNorm",
             "ln1": "ln1(resid_mid): post-LN, seed 003's Residual + LayerNorm; the feed-forward's input",
             "ln2": "ln2(ln1 + ffwd.out): Residual + LayerNorm",
             "out": "the block's output (= ln2)"},
    "none": {"ln1": "x: no LayerNorm (norm='none'), attention reads the block's input",
             "resid_mid": "x + attn.out (residual)",
             "ln2": "resid_mid: no LayerNorm, the feed-forward's input",
             "out": "resid_mid + ffwd.out (residual): the block's output"},
}


def _switch_formulas(block: nn.Module, C: int) -> dict[str, str]:
    """The formulas of a block with parts taken away (attnlab.labs.ladder.rungs's rungs)."""
    changed = {}
    if not block.residual:
        changed["resid_mid"] = "attn.out: no residual, x is not added"
        changed["out"] = "ffwd.out: no residual, the block's output"
    if block.ffwd is None:
        changed["out"] = "resid_mid: no feed-forward (attention-only), the block's output"
    if not isinstance(block.attn.proj, nn.Linear):
        changed["attn.out"] = f"concat(z): the heads glued to {C} wide, no W_O"
    return changed


def _fixed(model: nn.Module) -> str:
    return " (fixed sin/cos waves)" if model.config.position == "sinusoidal" else ""


def norm_placement(block: nn.Module) -> str:
    """"pre", "post" or "none" (no LayerNorm: identities on the pre-LN path), as GPTConfig.norm names it."""
    if isinstance(block.ln1, nn.Identity):
        return "none"
    return "pre" if block.pre_norm else "post"


def _formulas(model: nn.Module, layer: int) -> dict[str, str]:
    """Point name (within block `layer`, or top-level) -> what it holds, with this model's sizes."""
    block = model.blocks[layer]
    attn = block.attn
    H, D, C = attn.n_heads, attn.d_head, attn.d_model
    norm = norm_placement(block)
    x_in = "ln1" if norm == "pre" else "x"
    masked = ", -inf where the causal mask hides the future" if attn.causal else " (no mask: tokens see both ways)"
    return {
        **BLOCK_FORMULAS[norm],
        "attn.q": f"{x_in} · W_Q + b, split into {H} heads of {D}: what each token looks for",
        "attn.k": f"{x_in} · W_K + b, split into heads: what each token offers to be found by",
        "attn.v": f"{x_in} · W_V + b, split into heads: what each token hands over",
        "attn.scores": f"q · kᵀ / √{D}{masked}",
        "attn.weights": "softmax(scores) over keys: each row sums to 1",
        "attn.z": "weights · v: each head's output, a weighted sum of value vectors",
        "attn.out": f"concat(z) · W_O + b: the {H} heads glued to {C} wide and mixed",
        "ffwd.hidden": f"act(up(…)): widened to {block.ffwd.up.out_features if block.ffwd else 0}",
        "ffwd.out": f"down(hidden): back to {C} wide",
        "embed": (f"token_embedding_table[ids] + position_embedding_table[0..T-1]{_fixed(model)}" if is_gpt(model)
                  else "LayerNorm(word + position + token-type embeddings)"),
        "ln_f": ("ln_f(last block's output): the final LayerNorm" if not isinstance(model.ln_f, nn.Identity)
                 else "the last block's output: no final LayerNorm (norm='none')") if is_gpt(model) else "",
        "logits": "ln_f · lm_head: a score for every vocabulary entry",
        **_switch_formulas(block, C),
    }


def _model_points(model: nn.Module, layer: int) -> list[str]:
    """What to record: the embeddings, the block's input, every point of the block, the output."""
    n = len(model.blocks)
    names = ["embed"] + ([f"blocks.{layer - 1}.out"] if layer else []) + [f"blocks.{layer}.**"]
    return names + (["ln_f", "logits"] if is_gpt(model) else [f"blocks.{n - 1}.out"])


@torch.no_grad()
def explain_model(model: nn.Module, idx: torch.Tensor, layer: int, head: int,
                  tokens: list[str] | None = None) -> Explanation:
    """Every named point of block `layer` (head `head` shown where there is one per head), with
    the embeddings before and the output after, for ids (1, T): seed 003's shape flow with real
    values. One ordinary forward, recorded; works for `GPT` (pre- or post-LN) and `BertEncoder`."""
    blocks = getattr(model, "blocks", None)
    if getattr(getattr(model, "config", None), "bigram", False):
        raise UserError("this model has no attention (a bigram model): nothing to explain")
    if blocks is None or not hasattr(getattr(model, "points", None), "embed"):
        raise UserError(f"explain needs a GPT or a BertEncoder, not {type(model).__name__}")
    if not 0 <= layer < len(blocks):
        raise UserError(f"layer {layer} out of range: the model has layers 0..{len(blocks) - 1}")
    if not 0 <= head < blocks[layer].attn.n_heads:
        raise UserError(f"head {head} out of range: the model has heads 0..{blocks[layer].attn.n_heads - 1}")
    formulas = _formulas(model, layer)
    was_training = model.training
    model.eval()
    try:
        with record(model, *_model_points(model, layer)) as rec:
            model(idx)
    finally:
        model.train(was_training)
    ex = Explanation(tokens=tokens, title=f"layer {layer}, head {head}", head=head)
    ex.add("ids", idx, "token ids", 1)
    for name, value in rec.items():
        short = name.split(".", 2)[2] if name.startswith("blocks.") else name
        formula = formulas[short]
        if name == f"blocks.{layer - 1}.out":
            formula = f"x: the input of block {layer}, the output of block {layer - 1}"
        elif name.startswith("blocks.") and not name.startswith(f"blocks.{layer}."):
            formula = "the output of the last block: the hidden states"
        ex.add(name, value, formula, *AXES.get(short, (1, None, None)))
    return ex
