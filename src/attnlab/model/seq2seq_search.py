"""Decoding an encoder-decoder without teacher forcing: greedy and beam search.

Training feeds the decoder the true target shifted right (teacher forcing). At inference the
true target is unknown, so the decoder is fed its own predictions, one step at a time:

    memory = encode(src)                 # once
    ys = [start]
    repeat: next = argmax(decode(ys, memory)[:, -1]);  ys.append(next)

Greedy keeps the single best token each step; beam search keeps the `beam_width` most
probable prefixes (summed log-probabilities) and returns the best one at the end. With
beam_width=1 it is greedy. The decoder is re-run on the whole prefix each step (no KV cache):
target sequences here are short, and it keeps the code to the bare idea.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from attnlab.errors import UserError


@torch.no_grad()
def greedy_decode(model: nn.Module, src: torch.Tensor, start: int | float, max_len: int, eos: int | None = None,
                  src_key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
    """-> (B, max_len) token ids (after `eos`, every token is `eos`) or (B, max_len, 1) values."""
    memory = model.encode(src, src_key_padding_mask)  # (B, S, C)
    B = memory.shape[0]
    continuous = model.config.continuous
    if continuous:
        ys = torch.full((B, 1, 1), float(start), device=memory.device)  # (B, 1, 1)
    else:
        ys = torch.full((B, 1), int(start), dtype=torch.long, device=memory.device)  # (B, 1)
    done = torch.zeros(B, dtype=torch.bool, device=memory.device)
    for _ in range(max_len):
        out = model.decode(ys, memory, memory_key_padding_mask=src_key_padding_mask)  # (B, t, V) or (B, t, 1)
        if continuous:
            nxt = out[:, -1:]  # (B, 1, 1): the predicted value becomes the next input
        else:
            nxt = out[:, -1].argmax(dim=-1)  # (B,)
            if eos is not None:
                nxt = nxt.masked_fill(done, eos)
                done |= nxt == eos
            nxt = nxt.unsqueeze(1)  # (B, 1)
        ys = torch.cat([ys, nxt], dim=1)  # (B, t + 1)
        if eos is not None and bool(done.all()):
            pad = torch.full((B, max_len + 1 - ys.shape[1]), eos, dtype=torch.long, device=ys.device)
            ys = torch.cat([ys, pad], dim=1)
            break
    return ys[:, 1:]  # drop the start symbol


@torch.no_grad()
def beam_search(model: nn.Module, src: torch.Tensor, start: int, max_len: int, beam_width: int = 4,
                eos: int | None = None, src_key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
    """-> (B, max_len) token ids of the highest-scoring hypothesis per source (eos-filled after eos).

    A hypothesis that has emitted `eos` is finished: it may only continue with `eos` at no cost,
    so its score stays fixed while the others keep paying for each new token.
    """
    if model.config.continuous:
        raise UserError("beam search needs token outputs; use greedy_decode for continuous values")
    if beam_width < 1:
        raise UserError(f"beam_width must be >= 1, got {beam_width}")
    k = beam_width
    memory = model.encode(src, src_key_padding_mask)  # (B, S, C)
    B = memory.shape[0]
    memory = memory.repeat_interleave(k, dim=0)  # (B*k, S, C): k copies of each source
    mask = None if src_key_padding_mask is None else src_key_padding_mask.repeat_interleave(k, dim=0)
    ys = torch.full((B * k, 1), start, dtype=torch.long, device=memory.device)  # (B*k, 1)
    scores = torch.full((B, k), float("-inf"), device=memory.device)
    scores[:, 0] = 0.0  # the k beams start identical: keep one, or the top k would be k copies
    for _ in range(max_len):
        logits = model.decode(ys, memory, memory_key_padding_mask=mask)[:, -1]  # (B*k, V)
        logp = logits.float().log_softmax(dim=-1)  # (B*k, V)
        V = logp.shape[-1]
        if eos is not None:
            finished = ys[:, -1] == eos  # (B*k,)
            logp[finished] = float("-inf")
            logp[finished, eos] = 0.0
        total = scores.view(B * k, 1) + logp  # (B*k, V): score of every one-token extension
        scores, flat = total.view(B, k * V).topk(k, dim=-1)  # (B, k), (B, k)
        beam = flat // V  # which hypothesis each survivor extends
        token = flat % V  # with which token
        rows = (torch.arange(B, device=ys.device).unsqueeze(1) * k + beam).view(-1)  # (B*k,)
        ys = torch.cat([ys[rows], token.view(-1, 1)], dim=1)  # (B*k, t + 1)
        if eos is not None and bool((ys[:, -1] == eos).all()):
            pad = torch.full((B * k, max_len + 1 - ys.shape[1]), eos, dtype=torch.long, device=ys.device)
            ys = torch.cat([ys, pad], dim=1)
            break
    best = scores.argmax(dim=-1)  # (B,)
    return ys.view(B, k, -1)[torch.arange(B, device=ys.device), best, 1:]  # (B, max_len)
