"""What each `/api/...` request computes: checked arguments in, plain JSON-ready data out.

Every function takes the shared model (`store.Shared`) and the request's JSON object, checks
what it reads (a wrong type or a value out of range is a `UserError` with a 4xx status and a
code), holds the model's lock for every forward, and calls the functions the CLI calls: `attention_maps`
(`attnlab attention`), `explain_model` + `explain_attention` (`attnlab explain`), `why` (`attnlab
why --json`) and, for sampling, `sampling_probs` and `decode_stream` (`attnlab generate`). The
shapes are in docs/web-lab.md; why returns its command's `--json` object. The panels that run a
lab or a tool (lens, ablate, patch, the labs) are not here: panels.py runs the lab itself, and
api_tools.py holds what the web lab adds to a tool. Each panel takes at most its cap of tokens
on each model (`limits.py`: so that one request never holds a model for long); the attention
weights come packed as the HTML view packs them (8 or 16 bits, deflated, base64: 512 tokens of
MiniLM are a few megabytes, not 155 MB of JSON).
"""

from __future__ import annotations

import math
import threading
from typing import Any, Callable, Iterator

import torch

# Imported here, once, not inside the handlers: they run in several threads at once, and two
# threads importing the same package at the same moment can fail (KeyError in importlib).
from attnlab.errors import UserError
from attnlab.fast import generate_tokens
from attnlab.generate import decode_stream, sampling_probs
from attnlab.serve.limits import check_tokens
from attnlab.serve.store import Shared
from attnlab.look.capture import attention_maps
from attnlab.look.explain import explain_attention, explain_model
from attnlab.viz.html import SMALL, encode_weights
from attnlab.viz.weights import visible

MAX_TEXT = 2000  # characters in a text or prompt
MAX_NEW_TOKENS = 400  # tokens one generation request may ask for
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


def next_token(shared: Shared, body: dict) -> dict:
    """The distribution sampling draws from after the text, and what top-k / top-p cut away:
    {"temperature", "top_k", "top_p", "kept", "kept_mass", "bars": [{"token", "id", "p", "kept",
    "p_kept"}]}: the `n` likeliest tokens at this temperature (p), whether the filters keep
    each, and the renormalised probability sampling gives it (p_kept, `sampling_probs`).
    Temperature 0 is greedy: only the top token is kept."""
    need_gpt(shared, "sampling")
    source = shared.source
    idx, _ = encode(shared, text_arg(body))
    V = source.model.config.vocab_size
    temperature = float_arg(body, "temperature", 0.0, 5.0, 1.0)
    top_k = int_arg(body, "top_k", 1, V, optional=True)
    top_p = float_arg(body, "top_p", 0.0, 1.0, 1.0)
    if top_p <= 0:
        raise UserError('"top_p" must be above 0 (1 keeps every token)', code="out_of_range")
    n = int_arg(body, "n", 1, 100, default=30)
    with shared.lock, torch.inference_mode():
        logits, _ = source.model(idx)  # (1, T, V)
    last = logits[:, -1].float()  # (1, V)
    # shifted so the top logit is 0, in float64: a tiny temperature (1e-300) sends the rest to
    # -inf (greedy) instead of overflowing to inf - inf = NaN
    shifted = last.double() - last.double().amax(-1, keepdim=True)  # (1, V)
    p_temp = (shifted / temperature).softmax(-1) if temperature > 0 else last.softmax(-1)  # (1, V)
    if temperature > 0:
        kept_probs = sampling_probs(last, temperature, top_k, None if top_p >= 1 else top_p)  # (1, V)
    else:
        kept_probs = torch.zeros_like(last)
        kept_probs[0, last.argmax()] = 1.0
    p, ids = p_temp[0].topk(min(n, V))
    labels = source.tokenizer.token_strings(ids.tolist())
    kept = kept_probs[0] > 0
    bars = [{"token": t, "id": i, "p": round(q, DIGITS), "kept": bool(kept[i]), "p_kept": round(kept_probs[0, i].item(), DIGITS)}
            for t, i, q in zip(labels, ids.tolist(), p.tolist())]
    return {"temperature": temperature, "top_k": top_k, "top_p": top_p, "kept": int(kept.sum()),
            "kept_mass": round(p_temp[0][kept].sum().item(), DIGITS), "vocab": V, "bars": bars}


def generation(shared: Shared, body: dict) -> tuple[Callable[[Callable[[str], None], threading.Event], str], dict]:
    """Checked arguments of a streamed generation, and `run(write, stop)`, which samples and calls
    `write(piece)` as each piece of text appears (`decode_stream`, as `stream_sample` does). The
    lock is held for one token at a time, so other requests run between the tokens (the KV
    caches belong to this generation, not to the model); it stops early once `stop` is set."""
    need_gpt(shared, "generation")
    source = shared.source
    prompt = text_arg(body)
    if not prompt:
        raise UserError("the prompt is empty", code="empty_text")
    ids = source.token_ids(prompt)
    if not ids:
        raise UserError("the prompt gives no tokens", code="empty_text")
    V = source.model.config.vocab_size
    args: dict[str, Any] = {
        "max_new_tokens": int_arg(body, "max_new_tokens", 1, MAX_NEW_TOKENS, default=200),
        "temperature": float_arg(body, "temperature", 0.0, 5.0, 1.0),
        "top_k": int_arg(body, "top_k", 1, V, optional=True),
        "top_p": float_arg(body, "top_p", 0.0, 1.0, 1.0),
        "seed": int_arg(body, "seed", 0, 2 ** 31 - 1, default=0),
    }
    if args["top_p"] <= 0:
        raise UserError('"top_p" must be above 0 (1 keeps every token)', code="out_of_range")

    def run(write: Callable[[str], None], stop: threading.Event) -> str:
        idx = torch.tensor([ids])  # (1, T)
        tokens = generate_tokens(source.model, idx, args["max_new_tokens"], temperature=args["temperature"],
                                              top_k=args["top_k"], top_p=None if args["top_p"] >= 1 else args["top_p"],
                                              generator=torch.Generator().manual_seed(args["seed"]))
        return decode_stream(locked_steps(tokens, shared.lock, stop), source.tokenizer, write)

    return run, args


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
