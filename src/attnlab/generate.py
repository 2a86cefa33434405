"""Sampling text from a GPT: temperature, top-k, top-p, with or without a KV cache.

Two paths give the same tokens for the same `torch.Generator`:

- uncached (the reference, in the seeds' style): every step re-runs the model on the whole
  context and keeps the last position's logits;
- cached: the prompt is run once to fill each layer's (B, H, T_max, D) key/value cache, and
  every later step feeds only the newest token.

Sliding window: a model has `max_seq_len` positions. Past that, each step sees the last
`max_seq_len` tokens (as nanoGPT does). Every position then shifts by one at each step, so
the cached keys no longer fit: the cached path re-runs the window each step from there on
(correct, and as slow as the uncached path), which keeps both paths identical.
"""

from __future__ import annotations

import math
from typing import Callable, Iterable, Iterator

import torch
import torch.nn.functional as F
from attnlab.errors import UserError


def all_finite(values: torch.Tensor) -> bool:
    """Whether no value is NaN or inf. The smallest and largest values tell (NaN propagates
    through both): one pass, where `isfinite(...).all()` took 14x as long over GPT-2's 50,257
    logits on a 2-core EPYC."""
    low, high = torch.aminmax(values)
    return math.isfinite(low.item()) and math.isfinite(high.item())


def check_finite_logits(logits: torch.Tensor) -> None:
    """A one-line error for NaN or inf logits."""
    if not all_finite(logits):
        raise UserError("the model's logits are not finite (NaN or inf): its weights are broken")


def filter_logits(logits: torch.Tensor, top_k: int | None = None, top_p: float | None = None) -> torch.Tensor:
    """Set to -inf every logit outside the top-k, then outside the top-p nucleus. (B, V) -> (B, V).

    top_p keeps the smallest set of most likely tokens whose probabilities add up to at
    least top_p (always at least one token).
    >>> filter_logits(torch.tensor([[1., 3., 2.]]), top_k=2).tolist()
    [[-inf, 3.0, 2.0]]
    """
    if top_k is not None:
        if top_k < 1:
            raise UserError(f"top_k must be >= 1, got {top_k}")
        k = min(top_k, logits.shape[-1])
        kth = torch.topk(logits, k, dim=-1).values[..., -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None:
        if not 0.0 < top_p <= 1.0:
            raise UserError(f"top_p must be in (0, 1], got {top_p}")
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)  # (B, V)
        cumulative = F.softmax(sorted_logits, dim=-1).cumsum(dim=-1)
        # drop a token when the tokens before it already reach top_p
        drop_sorted = (cumulative - F.softmax(sorted_logits, dim=-1)) >= top_p
        drop_sorted[..., 0] = False  # the likeliest token stays: a top_p of 1e-300 is 0 in float32, and 0 >= 0
        drop = drop_sorted.scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def sampling_probs(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                   top_p: float | None = None) -> torch.Tensor:
    """The distribution `sample_next` draws from: softmax(filter(logits / temperature)), (B, V) -> (B, V).
    Tokens that top-k / top-p cut away get probability 0; temperature must be > 0 (0 is greedy,
    which `sample_next` handles without a distribution).

    >>> sampling_probs(torch.tensor([[2.0, 1.0, -50.0]]), top_k=1).tolist()
    [[1.0, 0.0, 0.0]]
    """
    if not math.isfinite(temperature) or temperature <= 0:
        raise UserError(f"temperature must be a finite number > 0 here, got {temperature}")
    check_finite_logits(logits)
    scaled = logits.float() / temperature
    if not all_finite(scaled):
        # A tiny temperature (1e-300 is 0 in float32) overflowed: in float64, with the largest
        # logit shifted to 0 (the same softmax), it stays 0 and the rest go towards -inf: greedy.
        shifted = logits.double() - logits.double().amax(dim=-1, keepdim=True)
        scaled = shifted / temperature
    return F.softmax(filter_logits(scaled, top_k=top_k, top_p=top_p), dim=-1)


def sample_next(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                top_p: float | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """Pick the next token from last-position logits (B, V) -> (B, 1). temperature 0 is greedy."""
    if not math.isfinite(temperature) or temperature < 0:
        raise UserError(f"temperature must be a finite number >= 0, got {temperature}")
    if temperature == 0:  # greedy: the first largest logit, as argmax finds it, in a third of its time on a CPU
        check_finite_logits(logits)
        return logits.max(dim=-1, keepdim=True).indices
    probs = sampling_probs(logits, temperature, top_k, top_p)  # checks the logits too
    return torch.multinomial(probs, num_samples=1, generator=generator)  # (B, 1)


Step = Callable[[torch.Tensor, list], torch.Tensor]  # (token (B, 1), KV caches) -> logits (B, 1, V)


def generate_tokens(model, idx: torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
                    top_k: int | None = None, top_p: float | None = None,
                    generator: torch.Generator | None = None, use_cache: bool = True,
                    step: Step | None = None) -> Iterator[torch.Tensor]:
    """Yield max_new_tokens new tokens one at a time, each (B, 1), continuing prompt idx (B, T).

    The model runs in eval mode (no dropout) and inference mode; its mode is restored after.
    `step` computes a cached one-token step's logits (None: the model's forward;
    `attnlab.fast` passes its lean decoding step, which gives the same logits).
    """
    if idx.dim() != 2 or idx.shape[1] == 0:
        raise UserError(f"prompt must be (B, T) with T >= 1 tokens, got shape {tuple(idx.shape)}")
    if max_new_tokens < 0:
        raise UserError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
    window = model.config.max_seq_len
    B, T = idx.shape
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            # Memory does not grow with max_new_tokens: the caches hold at most the window, and
            # only the last `window` tokens are kept (all a step may see).
            context = idx[:, -window:]  # (B, T') with T' <= window
            caches = model.make_kv_caches(B, max_len=T + max_new_tokens) if use_cache else None
            logits, _ = model(context, kv_caches=caches)  # (B, T', V)
            for i in range(max_new_tokens):
                token = sample_next(logits[:, -1, :], temperature, top_k, top_p, generator)  # (B, 1)
                yield token
                if i == max_new_tokens - 1:
                    break  # no need for the logits after the last token
                context = torch.cat([context, token], dim=1)[:, -window:]  # (B, T' <= window)
                if caches is not None and caches[0].length < caches[0].max_len:
                    logits = step(token, caches) if step else model(token, kv_caches=caches)[0]  # (B, 1, V)
                else:
                    if caches is not None:  # the window slid: every position moved, refill
                        for cache in caches:
                            cache.reset()
                    logits, _ = model(context, kv_caches=caches)  # (B, T', V)
    finally:
        model.train(was_training)


def generate(model, idx: torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
             top_k: int | None = None, top_p: float | None = None,
             generator: torch.Generator | None = None, use_cache: bool = True,
             step: Step | None = None) -> torch.Tensor:
    """idx (B, T) -> (B, T + max_new_tokens): the prompt followed by the sampled tokens."""
    out = torch.empty(idx.shape[0], idx.shape[1] + max_new_tokens, dtype=idx.dtype, device=idx.device)
    out[:, :idx.shape[1]] = idx
    for i, token in enumerate(generate_tokens(model, idx, max_new_tokens, temperature, top_k, top_p,
                                              generator, use_cache, step), start=idx.shape[1]):
        out[:, i:i + 1] = token
    return out


def stream_sample(model, tokenizer, prompt_ids: list[int], max_new_tokens: int, write: Callable[[str], None],
                  temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
                  generator: torch.Generator | None = None, step: Step | None = None) -> str:
    """Sample with the KV cache and `write` the new text as it appears; returns all of it
    (`decode_stream` over `generate_tokens`)."""
    device = next(model.parameters()).device
    idx = torch.tensor([prompt_ids], dtype=torch.long, device=device)  # (1, T)
    tokens = generate_tokens(model, idx, max_new_tokens, temperature, top_k, top_p, generator, step=step)  # (1, 1) each
    return decode_stream(tokens, tokenizer, write)


def decode_stream(tokens: Iterable[torch.Tensor], tokenizer, write: Callable[[str], None]) -> str:
    """`write` the text of a stream of (1, 1) tokens as it appears; returns all of it.

    A byte-level BPE token can end in the middle of a UTF-8 character, which decodes to
    '\\ufffd' until the next token completes it, so trailing '\\ufffd' is held back.
    Only the ids since the last complete character are decoded (with one token before them,
    so a decoder that joins tokens with spaces still sees a neighbour): time and memory per
    token stay constant, however many tokens are asked for.
    """
    ids: list[int] = []  # the tail still being decoded
    shown = ""  # what decode(ids) gave that has been written
    pieces: list[str] = []

    def show(text: str) -> None:
        write(text)
        pieces.append(text)

    for token in tokens:
        ids.append(int(token[0, 0]))
        text = tokenizer.decode(ids)
        stable = text.rstrip("\ufffd")
        if len(stable) > len(shown):
            show(stable[len(shown):])
            shown = stable
        if len(ids) > 32 and stable == text:  # all written: keep one token as context
            ids = ids[-1:]
            shown = tokenizer.decode(ids)
    text = tokenizer.decode(ids)
    if len(text) > len(shown):
        show(text[len(shown):])
    return "".join(pieces)
