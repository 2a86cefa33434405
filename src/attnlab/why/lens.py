"""The logit lens: what would the model say if it stopped after this layer?

A GPT ends with `ln_f` and `lm_head`. The residual stream after the embedding and after each
block has the same width, so the same two steps can be applied to it early: the result is the
model's next-token guess at that depth. Read down a column to watch a prediction form.

    layers:  embed, blocks.0.out, ..., blocks.{L-1}.out      (L + 1 rows)
    lens[l] = softmax(lm_head(ln_f(residual after layer l)))  (T, V)

The last row is the model's own output (tested equal to softmax(logits)). The residuals are
read with `attnlab.record` during one ordinary forward pass; nothing here re-runs the blocks.

    >>> import torch, attnlab
    >>> from attnlab.tokenizers.char import CharTokenizer
    >>> tok = CharTokenizer.train("abcd")
    >>> model = attnlab.GPT(attnlab.GPTConfig(vocab_size=4, max_seq_len=8, d_model=8, n_heads=2, n_layers=2))
    >>> lens = logit_lens(model, torch.tensor([tok.encode("abc")]), tok)
    >>> lens.layers, len(lens.top), lens.p_next[0][-1]
    (['embed', 'blocks.0.out', 'blocks.1.out'], 3, None)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn

from attnlab.errors import UserError
from attnlab.look.hooks import record
from attnlab.model.gpt import is_gpt


@dataclass
class Lens:
    """One text through the logit lens; `to_dict()` is the JSON of `attnlab lens --json`.

    tokens[t]       the label of position t
    layers[l]       the point read: "embed", "blocks.0.out", ...
    top[l][t]       the most likely next token at layer l, position t
    top_p[l][t]     its probability
    p_next[l][t]    the probability of the token that actually comes next (None at the end)
    """

    tokens: list[str]
    layers: list[str]
    top: list[list[str]]
    top_p: list[list[float]]
    p_next: list[list[float | None]]

    def to_dict(self) -> dict:
        return asdict(self)


def _check_gpt(model: nn.Module) -> None:
    if not is_gpt(model):
        raise UserError(f"the logit lens needs a GPT with blocks, ln_f and lm_head; "
                        f"{type(model).__name__} has none (use a GPT run)")


@torch.no_grad()
def lens_probabilities(model: nn.Module, idx: torch.Tensor) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """(layer names, probabilities (L + 1, B, T, V), the model's own logits (B, T, V)) for ids (B, T)."""
    _check_gpt(model)
    was_training = model.training
    model.eval()
    try:
        with record(model, "embed", "blocks.*.out") as rec:
            logits, _ = model(idx)  # (B, T, V)
        names = list(rec)  # forward order: embed, blocks.0.out, ...
        probs = torch.stack([model.lm_head(model.ln_f(rec[n])).float().softmax(dim=-1) for n in names])
    finally:
        model.train(was_training)
    return names, probs, logits  # (L + 1, B, T, V)


def logit_lens(model: nn.Module, idx: torch.Tensor, tokenizer) -> Lens:
    """The logit lens of one sequence: ids (1, T) or (T,); `tokenizer.token_strings` labels tokens."""
    idx = idx.view(1, -1) if idx.dim() == 1 else idx
    if idx.shape[0] != 1:
        raise UserError(f"the logit lens reads one sequence at a time, got a batch of {idx.shape[0]}")
    names, probs, _ = lens_probabilities(model, idx)
    return lens_from_probabilities(names, probs[:, 0], idx[0].tolist(), tokenizer)


def lens_from_probabilities(names: list[str], probs: torch.Tensor, ids: list[int], tokenizer) -> Lens:
    """The Lens of one sequence from `lens_probabilities`' names and probabilities (L + 1, T, V)."""
    top_p, top_id = probs.max(dim=-1)  # (L + 1, T)
    nxt = torch.tensor(ids[1:], device=probs.device)  # (T - 1,)
    p_next = probs[:, :-1].gather(-1, nxt.view(1, -1, 1).expand(len(names), -1, 1))[..., 0]  # (L + 1, T - 1)
    return Lens(
        tokens=list(tokenizer.token_strings(ids)),
        layers=names,
        top=[list(tokenizer.token_strings(row)) for row in top_id.tolist()],
        top_p=[[round(p, 6) for p in row] for row in top_p.tolist()],
        p_next=[[round(p, 6) for p in row] + [None] for row in p_next.tolist()],
    )


def top_guesses(probs: torch.Tensor, tokenizer, k: int) -> list[list[list[dict]]]:
    """The k most likely next tokens of every cell: probs (L + 1, T, V) -> [layer][position] lists
    of {"token", "p"}, most likely first (a wider view of `Lens.top`, whose entry is the first)."""
    p, ids = probs.topk(min(k, probs.shape[-1]), dim=-1)  # (L + 1, T, k)
    return [[[{"token": t, "p": round(q, 6)} for t, q in zip(tokenizer.token_strings(cell_ids), cell_p)]
             for cell_ids, cell_p in zip(layer_ids, layer_p)]
            for layer_ids, layer_p in zip(ids.tolist(), p.tolist())]
