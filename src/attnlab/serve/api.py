"""What each `/api/...` request computes: checked arguments in, plain JSON-ready data out.

Every function takes the shared model (`store.Shared`) and the request's JSON object, checks
what it reads (a wrong type or a value out of range is a `UserError` with a 4xx status and a
code), holds the model's lock for every forward, and calls the functions the CLI calls:
`attention_maps` (`attnlab attention`), `explain_model` + `explain_attention` (`attnlab
explain`); a generation's tokens are decoded with the lock held one step at a time
(`locked_stream`). The shapes are in docs/web-lab.md. The panels that run a lab or a tool (lens,
ablate, next, why, patch, the labs, and the generation's stream) are not here: panels.py runs
the lab itself, and api_tools.py holds what the web lab adds to a tool. Each panel takes at most
its cap of tokens on each model (`limits.py`: so that one request never holds a model for long);
the attention weights come packed as the HTML view packs them (8 or 16 bits, deflated, base64:
512 tokens of MiniLM are a few megabytes, not 155 MB of JSON).
"""

from __future__ import annotations

import math
import threading
from typing import Callable, Iterator

import torch

# Imported here, once, not inside the handlers: they run in several threads at once, and two
# threads importing the same package at the same moment can fail (KeyError in importlib).
from attnlab.errors import UserError
from attnlab.generate import decode_stream
from attnlab.serve.limits import check_tokens
from attnlab.serve.store import Shared
from attnlab.look.capture import attention_maps
from attnlab.look.explain import explain_attention, explain_model
from attnlab.viz.html import SMALL, encode_weights
from attnlab.viz.weights import visible

MAX_TEXT = 2000  # characters in a text or prompt
SHOWN = 64  # numbers shown of one row of an explain step (the rest: shape and statistics)
DIGITS = 6  # decimals of every weight and probability sent


# ---- checked arguments -------------------------------------------------------------------------

def text_arg(body: dict, name: str = "text") -> str:
    value = body.get(name)
    if not isinstance(value, str):
        raise UserError(f'"{name}" must be a string', code="bad_type")
    if len(value) > MAX_TEXT:
        raise UserError(f'"{name}" is {len(value)} characters long; the lab takes at most {MAX_TEXT}',
                        status=413, code="text_too_long")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:  # JSON may carry "\ud800"; no tokenizer reads half a character
        raise UserError(f'"{name}" holds a lone surrogate ({exc.object[exc.start]!r}), not a character',
                        code="bad_value") from None
    return value


def int_arg(body: dict, name: str, low: int, high: int, default: int | None = None, optional: bool = False) -> int | None:
    """An integer in [low, high]; missing: `default` (or None when `optional`)."""
    value = body.get(name)
    if value is None:
        if default is not None or optional:
            return default
        raise UserError(f'"{name}" is missing', code="missing")
    if isinstance(value, bool) or not isinstance(value, int):
        raise UserError(f'"{name}" must be an integer, got {type(value).__name__}', code="bad_type")
    if not low <= value <= high:
        raise UserError(f'"{name}" is {value}; it must be in {low}..{high}', code="out_of_range")
    return value


def float_arg(body: dict, name: str, low: float, high: float, default: float) -> float:
    value = body.get(name, default)
    finite = isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))  # never float(10 ** 400)
    if isinstance(value, bool) or not finite:
        raise UserError(f'"{name}" must be a finite number', code="bad_type")
    if not low <= value <= high:
        raise UserError(f'"{name}" is {value}; it must be in {low}..{high}', code="out_of_range")
    return float(value)


def encode(shared: Shared, text: str, at_least: int = 1, panel: str = "next") -> tuple[torch.Tensor, list[str]]:
    """ids (1, T) and token labels, as the CLI encodes (`TextModel.encode`: its limits, its
    UserErrors' codes), within `panel`'s token cap on this model (`limits.COSTS`; the default,
    "next", is one forward's)."""
    idx, tokens = shared.source.encode(text)
    check_tokens(panel, shared.size, shared.source.name, idx.shape[1])
    if idx.shape[1] < at_least:
        raise UserError(f"the text must be at least {at_least} tokens long: the loss needs a next token",
                        code="too_few_tokens")
    return idx, tokens


def need_gpt(shared: Shared, what: str) -> None:
    if not shared.is_gpt:
        raise UserError(f"{what} needs a GPT run (a model that predicts the next token); "
                        f"{shared.source.name} is an encoder", code="needs_gpt")


def rounded(t: torch.Tensor) -> list:
    """A tensor as nested lists of floats with DIGITS decimals; -inf (a masked score) becomes None,
    JSON's null, since JSON has no infinity."""
    a = t.detach().double()
    finite = torch.isfinite(a)
    values = torch.where(finite, (a * 10 ** DIGITS).round() / 10 ** DIGITS, torch.zeros_like(a)).tolist()
    if bool(finite.all()):
        return values
    mask = finite.tolist()

    def put(v, m):
        return [put(x, y) for x, y in zip(v, m)] if isinstance(v, list) else (v if m else None)

    return put(values, mask)


# ---- the panels --------------------------------------------------------------------------------

def attention(shared: Shared, body: dict) -> dict:
    """{"tokens", "labels", "layers", "shape": [L, H, T, T], "bits", "compression": "deflate",
    "weights"}: the (L, H, T, T) weights as `viz.html.payload` packs them (each rounded to
    1/65535 up to a million weights, to 1/255 beyond, then deflated and base64-encoded;
    `viz.html.decode_weights` unpacks them). The packing runs after the lock is let go."""
    idx, tokens = encode(shared, text_arg(body), panel="attention")
    with shared.lock, torch.inference_mode():
        maps = attention_maps(shared.source.model, idx)
    weights = torch.stack([maps[name][0] for name in maps]).float().numpy()  # (L, H, T, T)
    bits = 16 if weights.size <= SMALL else 8
    return {"model": shared.source.name, "tokens": tokens, "labels": [visible(t) for t in tokens],
            "ids": idx[0].tolist(), "layers": list(maps), "shape": list(weights.shape),
            "causal": bool(getattr(shared.source.model.blocks[0].attn, "causal", False)),
            "bits": bits, "compression": "deflate", "weights": encode_weights(weights, bits)}


def _step(name: str, value: torch.Tensor, formula: str, rows: list[str] | None) -> dict:
    """One explain step: its full shape, and the numbers shown (a row or a table, cut at SHOWN)."""
    full_shape = list(value.shape)
    table = value.reshape(1, -1) if value.dim() <= 1 else value.reshape(-1, value.shape[-1])  # (rows, cols)
    finite = value[torch.isfinite(value)].double()
    return {"name": name, "formula": formula, "shape": full_shape, "rows": rows,
            "values": rounded(table[:SHOWN, :SHOWN]), "cut": table.shape[0] > SHOWN or table.shape[1] > SHOWN,
            "mean": round(finite.mean().item(), DIGITS) if len(finite) else None,
            "std": round(finite.std(unbiased=False).item(), DIGITS) if len(finite) else None}


def explain(shared: Shared, body: dict) -> dict:
    """The steps of one head for one query token: `explain_attention` on the q, k, v rows the
    model's forward recorded (`explain_model`), then the head's output z and W_O's output, as the
    model computed them. {"tokens", "layer", "head", "token", "scale", "steps": [{"name",
    "formula", "shape", "rows", "values", "cut", "mean", "std"}]}."""
    source = shared.source
    idx, tokens = encode(shared, text_arg(body), panel="explain")
    T = idx.shape[1]
    layer = int_arg(body, "layer", 0, source.n_layers - 1)
    head = int_arg(body, "head", 0, source.n_heads - 1)
    i = int_arg(body, "token", 0, T - 1, default=T - 1)
    with shared.lock, torch.inference_mode():
        ex = explain_model(source.model, idx, layer, head, tokens=tokens)
    attn = source.model.blocks[layer].attn
    q, k, v = (ex[f"blocks.{layer}.attn.{n}"][0, head] for n in ("q", "k", "v"))  # (T, D) each
    keys = i + 1 if attn.causal else T  # how many tokens the query sees: in a GPT, itself and those before
    mask = torch.zeros(1, T, dtype=torch.bool)
    mask[0, :keys] = True  # (1, S): True = may attend
    steps = explain_attention(q[i:i + 1], k, v, mask=mask if attn.causal else None, tokens=tokens)
    label = f"{i}:{tokens[i]}"
    every = [f"{j}:{t}" for j, t in enumerate(tokens)]
    out = [_step(step.name, step.value, step.formula, every if step.name in ("k", "v") else [label])
           for step in steps.steps]  # k, v: a row per token; the rest: the query token's row
    model_steps = {step.name: step for step in ex.steps}
    z, o = model_steps[f"blocks.{layer}.attn.z"], model_steps[f"blocks.{layer}.attn.out"]
    out.append(_step("z", z.value[0, i, head], f"{z.name}[{i}, {head}]: {z.formula}", [label]))  # (D,)
    out.append(_step("attn.out", o.value[0, i], f"{o.name}[{i}]: {o.formula}", [label]))  # (C,)
    return {"model": source.name, "tokens": tokens, "layer": layer, "head": head, "token": i,
            "keys": keys, "d_head": attn.d_head, "scale": round(1 / math.sqrt(attn.d_head), DIGITS),
            "steps": out}


def locked_steps(tokens: Iterator[torch.Tensor], lock: threading.Lock, stop: threading.Event) -> Iterator[torch.Tensor]:
    """`tokens`, each step (the model's forward) taken with `lock` held, until `stop` is set."""
    try:
        while not stop.is_set():
            with lock:
                token = next(tokens, None)
            if token is None:
                return
            yield token
    finally:
        with lock:  # the generator's own clean-up (it restores the model's mode) runs locked too
            tokens.close()


def locked_stream(lock: threading.Lock, stop: threading.Event) -> Callable[..., str]:
    """How the web lab turns a generation's tokens into text (`attnlab.labs.sampling.run.generate`'s
    `stream`): `decode_stream` over the tokens, each step taken with the model's `lock` held, so
    other requests run between two tokens (the KV caches belong to this generation, not to the
    model), until `stop` is set (the client went away)."""
    return lambda tokens, tokenizer, write: decode_stream(locked_steps(tokens, lock, stop), tokenizer, write)
