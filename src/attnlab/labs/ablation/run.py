"""`attnlab ablate` as a lab (labs/shape.py): run(settings, progress, opened) -> AblateResult,
whose to_json() is `attnlab ablate --json` and the Ablate panel's answer:

    {"baseline_loss", "heads": [{"layer", "head", "zero", "mean"}]}    (with --no-each: no "heads")
    with --heads: "set": {"heads": [[l, h], ...], "loss"}
    with --top N: "next": {"position", "actual", "baseline", "ablated"}: the N likeliest next
    tokens at --position ([{"token", "id", "p"}]) without and with the set, and "actual", the
    token that really comes next with its probability under each (null at the end of the text)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from attnlab.errors import UserError
from attnlab.labs.ablation.settings import AblateSettings
from attnlab.why.ablate import ablate_heads, ablated_forward, ablated_loss

DIGITS = 6  # decimals of each probability of "next"


@dataclass
class AblateResult:
    model: str  # the model's name, for the report
    what: str  # what the loss was measured on, in words
    n_layers: int
    n_heads: int
    data: dict[str, Any] = field(default_factory=dict)  # the --json object

    def to_json(self) -> dict[str, Any]:
        return self.data

    def grid(self) -> list[list[float]]:
        """The zeroing loss change of each head, layers x heads (the pictures')."""
        grid = [[0.0] * self.n_heads for _ in range(self.n_layers)]
        for r in self.data["heads"]:
            grid[r["layer"]][r["head"]] = r["zero"]
        return grid


def run(settings: AblateSettings, progress: Callable[[str, dict], None], opened=None) -> AblateResult:
    """The ablation on `opened`, the run's model as `attnlab.sources.open_source` opens it."""
    if opened is None:
        raise TypeError("head ablation runs on an opened model: run(settings, progress, opened=TextModel)")
    heads = settings.head_pairs()
    for layer, head in heads or []:
        opened.check_layer_head(layer, head)
    x, y, what = measured(settings, opened)
    model = opened.model
    with torch.no_grad():
        if settings.each:
            data = ablate_heads(model, x, y, together=heads)
        else:  # nothing ablated gives the baseline (why/ablate.py's doctest)
            data = {"baseline_loss": ablated_loss(model, x, y, [])}
            if heads is not None:
                data["set"] = {"heads": [[l, h] for l, h in heads], "loss": ablated_loss(model, x, y, heads)}
        if settings.top:
            idx = torch.cat([x[:, :1], y], dim=1)  # (1, T): the text's ids (x's first, then each next one)
            data["next"] = next_tokens(opened, idx, heads or [], settings.position, settings.top)
    return AblateResult(opened.name, what, opened.n_layers, opened.n_heads, data)


def measured(settings: AblateSettings, opened) -> tuple[torch.Tensor, torch.Tensor, str]:
    """(x, y, what): the inputs and next tokens the loss is measured on, (B, T) each."""
    if settings.text is not None:
        idx, _ = opened.encode(settings.text)
        if idx.shape[1] < 2:
            raise UserError("the text must be at least two tokens long: the loss needs a next token",
                            code="too_few_tokens")
        return idx[:, :-1], idx[:, 1:], f"{idx.shape[1] - 1} next-token predictions of the text"
    from attnlab.model.memory import gpt_look_bytes, require_memory
    from attnlab.runs.checkpoint import read_run_config
    from attnlab.train.gpt import split_batches

    _, cfg, _ = read_run_config(settings.run)
    rows = settings.batches * cfg.batch_size  # split_batches stacks every batch into one (N·B, T) pair
    require_memory(gpt_look_bytes(opened.model.config, rows, cfg.block_size),
                   f"--batches {settings.batches} ({rows} x {cfg.block_size} tokens in one forward)",
                   hint="pass fewer --batches")
    x, y = split_batches(settings.run, opened.tokenizer, settings.split, settings.batches, settings.seed,
                         settings.corpus)
    return x, y, f"{settings.batches} {settings.split} batches ({x.shape[0]} x {x.shape[1]} tokens)"


def next_tokens(opened, idx: torch.Tensor, heads: list[tuple[int, int]], position: int | None, k: int) -> dict:
    """The k likeliest next tokens at `position` of idx (1, T) without and with `heads` zeroed."""
    T = idx.shape[1]
    pos = T - 1 if position is None else position
    if not 0 <= pos < T:
        raise UserError(f"--position {pos} is out of range: the text has tokens 0..{T - 1}", code="out_of_range")
    before, _ = ablated_forward(opened.model, idx, None, [])  # (1, T, V)
    after, _ = ablated_forward(opened.model, idx, None, heads)
    p0, p1 = before[0, pos].float().softmax(-1), after[0, pos].float().softmax(-1)  # (V,) each
    actual = None
    if pos + 1 < T:
        nxt = int(idx[0, pos + 1])
        actual = {"token": opened.tokenizer.token_strings([nxt])[0], "id": nxt,
                  "baseline": round(p0[nxt].item(), DIGITS), "ablated": round(p1[nxt].item(), DIGITS)}
    return {"position": pos, "actual": actual, "baseline": top_tokens(p0, opened.tokenizer, k),
            "ablated": top_tokens(p1, opened.tokenizer, k)}


def top_tokens(probs: torch.Tensor, tokenizer, k: int) -> list[dict]:
    """The k likeliest tokens of a (V,) distribution: [{"token", "id", "p"}]."""
    p, ids = probs.topk(min(k, probs.shape[-1]))
    labels = tokenizer.token_strings(ids.tolist())
    return [{"token": t, "id": i, "p": round(q, DIGITS)} for t, i, q in zip(labels, ids.tolist(), p.tolist())]


def report(result: AblateResult) -> list[str]:
    """The table of every head (or the set alone), the set's loss and the next tokens, as text."""
    data = result.data
    lines = [f"{result.model}: head ablation on {result.what}, baseline loss {data['baseline_loss']:.4f}"]
    rows = data.get("heads")
    if rows:
        lines += ["loss change when the head's output is zeroed / replaced by its mean (positive: the head helped)",
                  f"{'layer':>5} {'head':>4} {'zero':>9} {'mean':>9}"]
        lines += [f"{r['layer']:>5} {r['head']:>4} {r['zero']:>+9.4f} {r['mean']:>+9.4f}" for r in rows]
        top, low = max(rows, key=lambda r: r["zero"]), min(rows, key=lambda r: r["zero"])
        lines.append(f"most needed: layer {top['layer']} head {top['head']} (zeroed: {top['zero']:+.4f}); "
                     f"least: layer {low['layer']} head {low['head']} ({low['zero']:+.4f})")
    if "set" in data:
        s = data["set"]
        heads = ", ".join(f"{l}.{h}" for l, h in s["heads"]) or "none"
        lines.append(f"heads {heads} zeroed together: loss {s['loss']:.4f} ({s['loss'] - data['baseline_loss']:+.4f})")
    if "next" in data:
        lines += _next_lines(data["next"])
    return lines


def _next_lines(found: dict) -> list[str]:
    from attnlab.viz.weights import visible

    lines = [f"the likeliest next tokens after position {found['position']}: without the set / with it"]
    lines += [f"{visible(a['token'])[:10]:>10} {a['p']:.4f}   {visible(b['token'])[:10]:>10} {b['p']:.4f}"
              for a, b in zip(found["baseline"], found["ablated"])]
    if found["actual"] is not None:
        a = found["actual"]
        lines.append(f"the real next token {visible(a['token'])!r}: p {a['baseline']:.4f} without the set, "
                     f"{a['ablated']:.4f} with it")
    return lines
