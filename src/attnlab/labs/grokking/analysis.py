"""What a grokking run did, from its metrics and its trained model: the phases, the neurons'
frequencies, the `--json` summary and the story in plain words.

Phases (each an evaluation step, or None when it never happened):
    memorised_at   the first evaluation with train accuracy >= 99%
    grokked_at     the first evaluation with test accuracy >= 99%
Between them the circuit forms (the restricted loss falls, the excluded loss rises); after
grokked_at weight decay cleans up what memorised (the weight norm falls).
"""

from __future__ import annotations

from typing import Any

import torch

from attnlab.labs.grokking.fourier import fourier_basis, key_share, neuron_frequencies
from attnlab.look.hooks import record
from attnlab.model.gpt import GPT

THRESHOLD = 0.99


def first_step(history: list[dict[str, Any]], key: str, threshold: float = THRESHOLD) -> int | None:
    """The first evaluated step at which history's `key` is >= threshold."""
    return next((r["step"] for r in history if r[key] >= threshold), None)


def at_step(history: list[dict[str, Any]], step: int | None) -> dict[str, Any] | None:
    return next((r for r in history if r["step"] == step), None)


@torch.no_grad()
def neuron_spectrum(model: GPT, inputs: torch.Tensor, p: int) -> tuple[list[int], list[float]]:
    """Each feed-forward neuron at '=' over every pair -> (its best frequency, the share of its
    variance that frequency explains), through `record` on the real forward pass."""
    with record(model, "blocks.0.ffwd.hidden") as rec:
        model(inputs)
    acts = rec["blocks.0.ffwd.hidden"][:, -1]  # (p*p, d_ff): the last position
    freqs, shares = neuron_frequencies(acts, fourier_basis(p)[0])
    return freqs.tolist(), shares.tolist()


def summary(p: int, train_fraction: float, steps: int, history: list[dict[str, Any]], run: str) -> dict[str, Any]:
    """The `attnlab grokking --json` object."""
    last = history[-1]
    return {"p": p, "train_fraction": train_fraction, "steps": steps,
            "memorised_at": first_step(history, "train_acc"), "grokked_at": first_step(history, "test_acc"),
            "final": {k: round(last[k], 6) for k in ("train_acc", "test_acc", "train_loss", "test_loss")},
            "key_frequencies": last["key_frequencies"], "key_share": round(last["key_share"], 4),
            "restricted_loss": _figure(last["restricted_loss"]), "excluded_loss": _figure(last["excluded_loss"]),
            "run": run}


def _figure(x: float) -> float:
    """Four significant digits: a loss of 2.7e-07 stays 2.7e-07, not 0."""
    return float(f"{x:.4g}")


def share_then(history: list[dict[str, Any]], step: int | None, keys: list[int]) -> float | None:
    """The share of the embedding's norm that the final key frequencies held at `step`."""
    then = at_step(history, step)
    return None if then is None else key_share(torch.tensor(then["frequency_norms"]), keys)


def story(s: dict[str, Any], history: list[dict[str, Any]]) -> list[str]:
    """The run in plain words, with its own numbers: one paragraph per phase."""
    p, mem, grok, final = s["p"], s["memorised_at"], s["grokked_at"], s["final"]
    pairs = int(s["train_fraction"] * p * p)
    out = [f"The model saw {pairs:,} of the {p * p:,} sums a + b mod {p} ({100 * s['train_fraction']:.0f}%) and "
           f"trained for {s['steps']:,} full-batch steps; chance is 1 in {p} ({100 / p:.1f}%)."]
    if mem is None:
        out.append(f"It never memorised its training pairs: train accuracy ended at {100 * final['train_acc']:.1f}%.")
        return out
    test_then = at_step(history, mem)["test_acc"]
    out.append(f"By step {mem:,} it knew every training sum by heart (train accuracy >= 99%) while getting "
               f"{100 * test_then:.1f}% of the unseen sums right: memorisation.")
    keys = s["key_frequencies"]
    then, now = share_then(history, mem, keys), s["key_share"]
    if grok is None:
        out.append(f"It has not generalised yet: test accuracy is {100 * final['test_acc']:.1f}% after "
                   f"{s['steps']:,} steps. Train longer (--steps, --resume) and watch the restricted loss.")
    else:
        out.append(f"Then, with no new data, it grokked: test accuracy passed 99% at step {grok:,}, "
                   f"{grok / mem:.1f}x the steps it took to memorise.")
    if keys:
        out.append(f"Its embedding now puts each number on {len(keys)} circle(s), frequencies "
                   f"{', '.join(map(str, keys))}: they hold {100 * now:.0f}% of the embedding's norm, against "
                   f"{100 * (then or 0):.0f}% at memorisation. Keeping only their cos/sin(w(a + b)) parts of the "
                   f"logits gives a loss of {s['restricted_loss']:.3g} (the restricted loss); removing them "
                   f"leaves {s['excluded_loss']:.3g} on the very pairs it trained on (the excluded loss).")
    else:
        out.append("No frequency stands out in its embedding yet: no Fourier circuit has formed.")
    return out


def report_markdown(s: dict[str, Any], paragraphs: list[str], figure: str) -> str:
    rows = "\n".join(f"| {k} | {v} |" for k, v in (("memorised at step", s["memorised_at"]),
                                                   ("grokked at step", s["grokked_at"]),
                                                   ("final test accuracy", f"{100 * s['final']['test_acc']:.1f}%"),
                                                   ("key frequencies", ", ".join(map(str, s["key_frequencies"]))),
                                                   ("their share of the norm", f"{100 * s['key_share']:.0f}%"),
                                                   ("restricted loss", f"{s['restricted_loss']:.4g}"),
                                                   ("excluded loss", f"{s['excluded_loss']:.4g}")))
    text = "\n\n".join(paragraphs)
    return (f"# Grokking a + b mod {s['p']}\n\n{text}\n\n| measure | value |\n|---|---|\n{rows}\n\n"
            f"![training, spectrum and neurons]({figure})\n")
