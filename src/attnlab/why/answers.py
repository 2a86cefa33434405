"""Does attention explain? One token pair, several answers side by side.

"The attention map shows which word 'it' refers to": a raw weight is one answer. The research
on that claim gives others, and they need not agree:

1. raw      the (layer, head) with the largest weight from `from` to `to` (Jain & Wallace 2019
            showed such weights can be changed a lot without changing the prediction);
2. rollout  every layer at once, with the residual stream (Abnar & Zuidema 2020), see rollout.py;
3. flow     the same graph read as pipes: the most that can flow from `to` to `from`;
4. norm     the weight times the size of what is handed over (Kobayashi et al. 2020), see
            norms.py: the (layer, head) where `to` has the largest share of `from`'s output;
5. ablation (a GPT only) zero the best raw head and see the loss at `from` change.

One forward pass records every layer's weights and values (`attnlab.record`); the ablation
is a second pass with the head's output replaced (`attnlab.intervene`).

    >>> import torch, attnlab
    >>> model = attnlab.GPT(attnlab.GPTConfig(vocab_size=9, max_seq_len=8, d_model=8, n_heads=2, n_layers=2))
    >>> answer = why(model, torch.tensor([[1, 2, 3, 4]]), 2, 0, vs=1)
    >>> sorted(answer)
    ['ablation', 'flow', 'from', 'norm', 'raw', 'rollout', 'to', 'tokens', 'vs']
    >>> round(sum(answer["rollout"][k] for k in ("to", "vs")), 6) <= 1
    True
"""

from __future__ import annotations

import torch
import torch.nn as nn

from attnlab.model.gpt import is_gpt
from attnlab.errors import UserError
from attnlab.look.hooks import record
from attnlab.look.norms import contribution_norms, shares
from attnlab.why.ablate import ablated_forward, token_losses
from attnlab.why.rollout import attention_flow, attention_rollout, flow_graph


def _raw_answer(weights: list[torch.Tensor], i: int, j: int, k: int | None) -> dict:
    """The (layer, head) with the largest weight from i to j; weights[l] is (H, T, T)."""
    stack = torch.stack(weights)  # (L, H, T, T)
    best = int(stack[:, :, i, j].argmax())
    layer, head = divmod(best, stack.shape[1])
    w = stack[layer, head, i]
    return {"layer": layer, "head": head, "to": w[j].item(), "vs": None if k is None else w[k].item()}


def _w_o(attn: nn.Module) -> torch.Tensor:
    """W_O (C, H·D); attention without one (attn_proj=False, a rung of attnlab.labs.ladder.rungs) hands the
    concatenated heads on unmixed: the identity."""
    if isinstance(attn.proj, nn.Linear):
        return attn.proj.weight.detach()
    return torch.eye(attn.d_model)


def _norm_answer(model: nn.Module, weights: list[torch.Tensor], values: list[torch.Tensor],
                 i: int, j: int, k: int | None, raw: dict) -> dict:
    """The (layer, head) where j has the largest norm-based share of i's output, and under
    "raw_head" the shares in the best raw head, to set beside its weights."""
    share = torch.stack([shares(contribution_norms(w, v, _w_o(block.attn)))  # (H, T, S)
                         for w, v, block in zip(weights, values, model.blocks)])  # (L, H, T, S)
    best = int(share[:, :, i, j].argmax())
    layer, head = divmod(best, share.shape[1])
    s, r = share[layer, head, i], share[raw["layer"], raw["head"], i]  # (S,) each
    return {"layer": layer, "head": head, "to": s[j].item(), "vs": None if k is None else s[k].item(),
            "raw_head": {"to": r[j].item(), "vs": None if k is None else r[k].item()}}


def _ablation_answer(model: nn.Module, idx: torch.Tensor, logits: torch.Tensor, raw: dict, i: int) -> dict:
    """The loss at position i (predicting token i + 1) before and after zeroing the raw head."""
    answer = {"layer": raw["layer"], "head": raw["head"], "loss": None, "dloss": None}
    if i + 1 >= idx.shape[1]:
        return answer  # the last token has no next token to predict
    target = idx[:, i + 1:i + 2]  # (1, 1)
    before = token_losses(logits[:, i:i + 1], target).item()
    after, _ = ablated_forward(model, idx, None, [(raw["layer"], raw["head"])])  # (1, T, V)
    answer["loss"] = before
    answer["dloss"] = token_losses(after[:, i:i + 1], target).item() - before
    return answer


def _record(model: nn.Module, idx: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor], object]:
    """Every layer's weights (H, T, T) and values (H, T, D) of one forward, and its output."""
    with torch.no_grad(), record(model, "blocks.*.attn.weights", "blocks.*.attn.v") as rec:
        out = model(idx)
    L = len(model.blocks)
    weights = [rec[f"blocks.{l}.attn.weights"][0].float() for l in range(L)]
    values = [rec[f"blocks.{l}.attn.v"][0].float() for l in range(L)]
    return weights, values, out


def check_positions(T: int, i: int, j: int, vs: int | None, causal: bool) -> None:
    """The one check of a (from, to, vs) triple, for `attnlab why` and the web lab alike: each a
    position of the T tokens and, in a causal model (a GPT), none after `from` (its weight would
    be 0 by construction, not an answer).

    >>> check_positions(4, 1, 0, 3, causal=True)
    Traceback (most recent call last):
    attnlab.errors.UserError: in a GPT a token sees only itself and earlier tokens: 'vs' (token 3) comes after 'from' (token 1); pick one at or before token 1
    """
    for name, p in (("from", i), ("to", j), ("vs", vs)):
        if p is not None and not 0 <= p < T:
            raise UserError(f"{name} position {p} out of range: there are tokens 0..{T - 1}")
    for name, p in (("to", j), ("vs", vs)):
        if causal and p is not None and p > i:
            raise UserError(f"in a GPT a token sees only itself and earlier tokens: '{name}' (token {p}) comes "
                            f"after 'from' (token {i}); pick one at or before token {i}", code="future_token")


def why(model: nn.Module, idx: torch.Tensor, i: int, j: int, vs: int | None = None,
        tokens: list[str] | None = None) -> dict:
    """How much does token i take from token j (and from `vs`)? ids (1, T); a GPT or an Encoder.

    Returns the JSON of `attnlab why`: {"from", "to", "vs", "tokens", "raw", "rollout", "flow",
    "norm"} and, for a GPT, "ablation": {"layer", "head", "loss", "dloss"}. "norm" also holds
    "raw_head": the norm-based shares in the raw answer's head.
    """
    if idx.shape[0] != 1:
        raise UserError(f"why reads one sequence at a time, got a batch of {idx.shape[0]}")
    check_positions(idx.shape[1], i, j, vs, causal=getattr(model.blocks[0].attn, "causal", False))
    was_training = model.training
    model.eval()
    try:
        weights, values, out = _record(model, idx)
        raw = _raw_answer(weights, i, j, vs)
        residual = getattr(getattr(model, "config", None), "residual", True)  # ladder rungs may have none
        rollout = attention_rollout(weights, residual)  # (T, T)
        graph = flow_graph(weights, residual)
        answer = {"from": i, "to": j, "vs": vs, "tokens": tokens, "raw": raw,
                  "rollout": {"to": rollout[i, j].item(), "vs": None if vs is None else rollout[i, vs].item()},
                  "flow": {"to": attention_flow(weights, j, i, graph),
                           "vs": None if vs is None else attention_flow(weights, vs, i, graph)},
                  "norm": _norm_answer(model, weights, values, i, j, vs, raw)}
        if is_gpt(model):
            answer["ablation"] = _ablation_answer(model, idx, out[0], raw, i)
    finally:
        model.train(was_training)
    return answer
