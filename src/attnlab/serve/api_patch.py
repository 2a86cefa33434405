"""`/api/patch`: activation patching for the web lab's Patch panel (`attnlab patch --json`).

Request (besides the model): "clean", "corrupt" (texts of the same token length), optional
"points" (a list from resid, attn, mlp, heads; default all four, mlp left out for an
attention-only model), "position" (default: the last), "direction" ("denoising" or "noising").
Answer: the `attnlab patch --json` object, {"clean", "corrupt", "tokens_clean",
"tokens_corrupt", "position", "answer", "wrong", "ld_clean", "ld_corrupt", <point>: table},
the numbers rounded to DIGITS decimals. Every argument is checked the way serve/api.py checks
its own, and the model's lock is held for every forward.
"""

from __future__ import annotations

import math

import torch

from attnlab.errors import UserError
from attnlab.serve.api import DIGITS, encode, int_arg, need_gpt, text_arg
from attnlab.serve.store import Shared
from attnlab.why.logit_diff import make_pair
from attnlab.why.patch import DIRECTIONS, patch_tables

POINTS = ("resid", "attn", "mlp", "heads")


def points_arg(body: dict, attention_only: bool) -> list[str]:
    """A list of distinct point names; missing: every point the model has."""
    value = body.get("points")
    if value is None:
        return [p for p in POINTS if not (attention_only and p == "mlp")]
    if not isinstance(value, list) or not value or not all(isinstance(p, str) for p in value):
        raise UserError('"points" must be a list of point names', code="bad_type")
    for point in value:
        if point not in POINTS:
            raise UserError(f'"points": unknown point {point[:40]!r}; choose from {", ".join(POINTS)}', code="bad_value")
    if len(set(value)) != len(value):
        raise UserError('"points" names a point twice', code="bad_value")
    if attention_only and "mlp" in value:
        raise UserError("the point mlp needs feed-forward layers; this model is attention-only", code="bad_value")
    return value


def _round(value):
    if isinstance(value, float):
        return round(value, DIGITS) if math.isfinite(value) else None
    if isinstance(value, list):
        return [_round(v) for v in value]
    return value


def patch(shared: Shared, body: dict) -> dict:
    """The Patch panel's tables (see the module docstring)."""
    need_gpt(shared, "activation patching")
    source = shared.source
    clean_text, corrupt_text = text_arg(body, "clean"), text_arg(body, "corrupt")
    clean, tokens_clean = encode(shared, clean_text)
    corrupt, tokens_corrupt = encode(shared, corrupt_text)
    if clean.shape != corrupt.shape:
        raise UserError(f"the clean text is {clean.shape[1]} tokens long and the corrupt text {corrupt.shape[1]}: "
                        f"patching needs the same length", code="bad_value")
    T = clean.shape[1]
    position = int_arg(body, "position", 0, T - 1, default=T - 1)
    direction = body.get("direction", "denoising")
    if direction not in DIRECTIONS:
        raise UserError(f'"direction" must be one of {", ".join(DIRECTIONS)}', code="bad_value")
    points = points_arg(body, any(block.ffwd is None for block in source.model.blocks))
    with shared.lock, torch.inference_mode():
        pair = make_pair(source.model, clean, corrupt, position)
        tables = patch_tables(source.model, pair, points, direction)
    strings = source.tokenizer.token_strings
    return {"model": source.name, "clean": clean_text, "corrupt": corrupt_text, "tokens_clean": tokens_clean,
            "tokens_corrupt": tokens_corrupt, "position": position, "answer": strings([pair.answer])[0],
            "wrong": strings([pair.wrong])[0], "direction": direction,
            **{key: _round(tables[key]) for key in ("ld_clean", "ld_corrupt", *points)}}
