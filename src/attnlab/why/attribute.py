"""Direct logit attribution: how much does each part write the answer straight into the logits?

In a residual model (pre-LN or without LayerNorm) the final residual stream at a position is a
sum of parts, each written by one component:

    x = embed + Σ_l ( Σ_h head_out[l, h] + b_O[l] + mlp[l] )        (C,)

    embed          token + position embedding (the point `embed`)
    head_out[l,h]  head h's output through its slice of W_O (why/components.py)
    b_O[l]         W_O's bias (belongs to no head)
    mlp[l]         the feed-forward output `blocks.{l}.ffwd.out`

`ln_f` is linear once its scale is fixed: ln_f(x) = γ ⊙ (x - mean(x)) / σ + β, with σ taken
from the actual forward (as TransformerLens does). Then with u = W_U[answer] - W_U[wrong]:

    part's value = (γ ⊙ (part - mean(part)) / σ) · u
    final_bias   = β · u + b_U[answer] - b_U[wrong]       (ln_f's and lm_head's biases)

and the values sum to LD = logit[answer] - logit[wrong] exactly. Without LayerNorm (norm
"none") the part's value is part · u. The table is the JSON of `attnlab attribute --json`:
{"text", "position", "answer", "wrong", "ld", "parts": [{"name", "layer", "head", "value"}]}
(the CLI adds the text and the token strings).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from attnlab.look.hooks import record
from attnlab.why.components import head_outputs, output_bias
from attnlab.why.logit_diff import logit_diff
from attnlab.why.paths import check_paths_model


def residual_parts(model: nn.Module, idx: torch.Tensor, position: int) -> tuple[list[dict], torch.Tensor, torch.Tensor]:
    """(part labels {"name", "layer", "head"}, the parts (N, C), the final stream x (C,)) at
    `position` of idx (1, T), read with `attnlab.record` from one forward."""
    L = len(model.blocks)
    names = ["embed", "blocks.*.attn.z", f"blocks.{L - 1}.out"]
    if all(block.ffwd is not None for block in model.blocks):
        names.append("blocks.*.ffwd.out")
    with torch.no_grad(), record(model, *names) as rec:
        model(idx)
    labels = [{"name": "embed", "layer": None, "head": None}]
    parts = [rec["embed"][0, position]]  # (C,)
    for l, block in enumerate(model.blocks):
        heads = head_outputs(rec[f"blocks.{l}.attn.z"], block.attn)[0, position]  # (H, C)
        labels += [{"name": "head", "layer": l, "head": h} for h in range(heads.shape[0])]
        parts += list(heads)
        bias = output_bias(block.attn)
        if bias is not None:
            labels.append({"name": "attn_bias", "layer": l, "head": None})
            parts.append(bias.detach())
        if block.ffwd is not None:
            labels.append({"name": "mlp", "layer": l, "head": None})
            parts.append(rec[f"blocks.{l}.ffwd.out"][0, position])
    return labels, torch.stack(parts), rec[f"blocks.{L - 1}.out"][0, position]  # (N, C), (C,)


def direct_effects(parts: torch.Tensor, x: torch.Tensor, ln_f: nn.Module, lm_head: nn.Linear, answer: int,
                   wrong: int) -> tuple[torch.Tensor, float]:
    """(each part's contribution to LD (N,), the biases' constant) for parts (N, C) that sum to
    the final stream x (C,), through ln_f (its scale from x, held fixed) and lm_head."""
    u = (lm_head.weight[answer] - lm_head.weight[wrong]).double()  # (C,)
    constant = 0.0 if lm_head.bias is None else (lm_head.bias[answer] - lm_head.bias[wrong]).item()
    parts = parts.double()
    if isinstance(ln_f, nn.LayerNorm):
        x = x.double()
        sigma = torch.sqrt(x.var(unbiased=False) + ln_f.eps)  # the forward's own scale
        gamma = torch.ones_like(x) if ln_f.weight is None else ln_f.weight.double()
        parts = gamma * (parts - parts.mean(dim=-1, keepdim=True)) / sigma  # (N, C)
        if ln_f.bias is not None:
            constant += float(ln_f.bias.double() @ u)
    return parts @ u, constant  # (N,)


def logit_attribution(model: nn.Module, idx: torch.Tensor, position: int, answer: int, wrong: int) -> dict:
    """{"position", "answer", "wrong", "ld", "parts": [{"name", "layer", "head", "value"}]} of idx
    (1, T), answer and wrong as token ids; the values sum to "ld" (the model's own LD)."""
    check_paths_model(model, "direct logit attribution")
    labels, parts, x = residual_parts(model, idx, position)
    with torch.no_grad():
        values, constant = direct_effects(parts, x, model.ln_f, model.lm_head, answer, wrong)
        ld = logit_diff(model(idx)[0], position, answer, wrong).item()
    rows = [{**label, "value": v} for label, v in zip(labels, values.tolist())]
    rows.append({"name": "final_bias", "layer": None, "head": None, "value": constant})
    return {"position": position, "answer": answer, "wrong": wrong, "ld": ld, "parts": rows}
