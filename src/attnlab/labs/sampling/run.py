"""Sampling as a lab (labs/shape.py): two runs on an opened model, each returning a plain result.

    generate(settings, progress, opened) -> GenerateResult: {"prompt", "samples": [text, ...]},
        `attnlab generate --json`; progress("text", {"text": piece}) hears each piece of text as it
        appears (the command prints it, the web lab streams it), progress("sample", {"index",
        "prompt"}) each sample's start and progress("note", {"text"}) a default prompt replaced
    next_tokens(settings, progress, opened) -> NextResult: the distribution the first token is
        drawn from, `attnlab next --json` and the Sample panel's answer:
        {"temperature", "top_k", "top_p", "kept", "kept_mass", "vocab", "bars": [{"token", "id",
        "p", "kept", "p_kept"}]}: the n likeliest tokens at this temperature (p), whether top-k and
        top-p keep each, and the probability sampling gives it after the cut (p_kept)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Callable

import torch

from attnlab.errors import UserError
from attnlab.fast import generate_tokens
from attnlab.generate import decode_stream, sampling_probs
from attnlab.labs.sampling.settings import GenerateSettings, NextSettings, kept_by
from attnlab.viz.weights import visible

DIGITS = 6  # decimals of each probability of a NextResult
Progress = Callable[[str, dict], None]


@dataclass
class GenerateResult:
    model: str
    prompt: str
    samples: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"prompt": self.prompt, "samples": self.samples}


@dataclass
class NextResult:
    model: str
    prompt: str
    data: dict[str, Any] = field(default_factory=dict)  # the --json object

    def to_json(self) -> dict[str, Any]:
        return self.data


def open_run(settings: GenerateSettings, device: str) -> SimpleNamespace:
    """The run's model on `device` and its tokenizer, after the memory it needs is found free: the
    weights, one forward over the window and a full KV cache, before any is allocated."""
    from attnlab.model.memory import gpt_memory_bytes, require_memory
    from attnlab.runs.checkpoint import load_model, read_run_config

    folder = settings.folder()
    if not folder.is_dir():
        raise UserError(f"run folder {folder} not found")
    config, _, _ = read_run_config(folder)
    require_memory(gpt_memory_bytes(config, kv_cache_len=config.max_seq_len), f"the model in {folder}", device,
                   hint=f"its config.json says n_layers {config.n_layers}, d_model {config.d_model}, "
                        f"max_seq_len {config.max_seq_len}, vocab_size {config.vocab_size}")
    model, tokenizer = load_model(folder, device)
    return SimpleNamespace(model=model, tokenizer=tokenizer, name=f"run {folder.name}")


def prompt_ids(tokenizer, prompt: str | None, progress: Progress) -> tuple[str, list[int]]:
    """(prompt text, its ids). The default prompt, a newline, falls back to the vocabulary's first
    token when the run's corpus had no newline (a char vocabulary cannot encode it): said as a note."""
    try:
        ids = tokenizer.encode("\n" if prompt is None else prompt)  # a char outside a char vocabulary: ValueError
    except ValueError:
        if prompt is not None:
            raise
        text = tokenizer.decode([0])
        progress("note", {"text": f"this run's vocabulary has no newline (the default prompt); starting from its "
                                  f"first token {text!r} instead (pass --prompt to choose)"})
        return text, [0]
    if not ids:
        raise UserError("the prompt is empty: pass --prompt with at least one token", code="empty_text")
    return ("\n" if prompt is None else prompt), ids


def generate(settings: GenerateSettings, progress: Progress, opened=None, stream=decode_stream) -> GenerateResult:
    """`settings.num_samples` samples continuing the prompt, with the KV cache and the fast decoding
    step; `stream(tokens, tokenizer, write) -> text` turns the sampled tokens into text as they come
    (the web lab's takes each step under the model's lock, and stops when its client goes away)."""
    if opened is None:
        raise TypeError("generate runs on an opened model: generate(settings, progress, opened=...)")
    model, tokenizer = opened.model, opened.tokenizer
    prompt, ids = prompt_ids(tokenizer, settings.prompt, progress)
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(settings.seed)
    top_k, top_p = kept_by(settings.top_k, settings.top_p)
    samples = []
    for i in range(settings.num_samples):
        progress("sample", {"index": i, "prompt": prompt})
        idx = torch.tensor([ids], dtype=torch.long, device=device)  # (1, T)
        tokens = generate_tokens(model, idx, settings.max_new_tokens, temperature=settings.temperature, top_k=top_k,
                                 top_p=top_p, generator=generator)  # (1, 1) each
        samples.append(stream(tokens, tokenizer, lambda piece: progress("text", {"text": piece})))
    return GenerateResult(opened.name, prompt, samples)


def next_tokens(settings: NextSettings, progress: Progress, opened=None) -> NextResult:
    """The distribution `attnlab generate` draws the prompt's next token from, and what top-k and
    top-p cut away. Temperature 0 is greedy: only the top token is kept."""
    if opened is None:
        raise TypeError("next_tokens runs on an opened model: next_tokens(settings, progress, opened=...)")
    model = opened.model
    prompt, ids = prompt_ids(opened.tokenizer, settings.prompt, progress)
    idx = torch.tensor([ids[-model.config.max_seq_len:]], device=next(model.parameters()).device)  # (1, T)
    with torch.inference_mode():
        logits, _ = model(idx)  # (1, T, V)
    last = logits[:, -1].float().cpu()  # (1, V)
    data = cut(last, settings, opened.tokenizer)
    return NextResult(opened.name, prompt, data)


def cut(last: torch.Tensor, settings: NextSettings, tokenizer) -> dict[str, Any]:
    """The bars of the last logits (1, V): p at the temperature, and p_kept after top-k and top-p."""
    V, temperature = last.shape[-1], settings.temperature
    # shifted so the top logit is 0, in float64: a tiny temperature (1e-300) sends the rest to
    # -inf (greedy) instead of overflowing to inf - inf = NaN
    shifted = last.double() - last.double().amax(-1, keepdim=True)  # (1, V)
    p_temp = (shifted / temperature).softmax(-1) if temperature > 0 else last.softmax(-1)  # (1, V)
    if temperature > 0:
        kept_probs = sampling_probs(last, temperature, *kept_by(settings.top_k, settings.top_p))  # (1, V)
    else:
        kept_probs = torch.zeros_like(last)
        kept_probs[0, last.argmax()] = 1.0
    p, ids = p_temp[0].topk(min(settings.n, V))
    labels = tokenizer.token_strings(ids.tolist())
    kept = kept_probs[0] > 0
    bars = [{"token": t, "id": i, "p": round(q, DIGITS), "kept": bool(kept[i]),
             "p_kept": round(kept_probs[0, i].item(), DIGITS)} for t, i, q in zip(labels, ids.tolist(), p.tolist())]
    return {"temperature": temperature, "top_k": settings.top_k, "top_p": settings.top_p, "kept": int(kept.sum()),
            "kept_mass": round(p_temp[0][kept].sum().item(), DIGITS), "vocab": V, "bars": bars}


def report_generate(result: GenerateResult) -> list[str]:
    """The samples, each after its prompt, a line of dashes between them (what `attnlab generate`
    streams as it goes)."""
    return ("\n" + "-" * 40 + "\n").join(result.prompt + sample for sample in result.samples).split("\n")


def report_next(result: NextResult) -> list[str]:
    """A row per token: p at the temperature, then what sampling gives it after the cut (or "cut")."""
    d = result.data
    what = "greedy: only the top token" if d["temperature"] == 0 else \
        f"temperature {d['temperature']:g}, top-k {d['top_k'] or 'all'}, top-p {d['top_p'] or 'all'}"
    lines = [f"{result.model}: the next token after {result.prompt[-40:]!r}, {what}",
             f"{d['kept']} of {d['vocab']} tokens kept, {100 * d['kept_mass']:.1f}% of the probability; "
             f"p at this temperature, then p after the cut",
             f"{'token':>10} {'p':>8} {'sampled':>8}"]
    for b in d["bars"]:
        sampled = f"{b['p_kept']:8.4f}" if b["kept"] else f"{'cut':>8}"
        lines.append(f"{visible(b['token'])[:10]:>10} {b['p']:8.4f} {sampled}")
    return lines
