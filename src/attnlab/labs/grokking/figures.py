"""The grokking lab's picture: four panels from the metrics and the trained model's neurons.

    loss (log scale) and accuracy against the step, the phases shaded  |  restricted / excluded loss
    the embedding's spectrum at memorisation and at the end             |  each neuron's best frequency

Returns a `matplotlib.figure.Figure`; never touches pyplot or the backend.
"""

from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure

from attnlab.labs.grokking.analysis import at_step


def _phases(ax, s: dict[str, Any], last_step: int) -> None:
    mem, grok = s["memorised_at"], s["grokked_at"]
    spans = [("memorisation", 0, mem, "tab:orange"), ("circuit formation", mem, grok, "tab:green"),
             ("clean-up", grok, last_step, "tab:blue")]
    for name, start, end, color in spans:
        if start is not None and end is not None and end > start:
            ax.axvspan(start, end, color=color, alpha=0.08, label=name)


def plot_grokking(history: list[dict[str, Any]], s: dict[str, Any], neuron_freqs: list[int],
                  neuron_shares: list[float]) -> Figure:
    steps = [r["step"] for r in history]
    fig = Figure(figsize=(12, 8), layout="constrained")
    (loss, measures), (spectrum, neurons) = fig.subplots(2, 2)
    for key, color, label in (("train_loss", "tab:blue", "train loss"), ("test_loss", "tab:red", "test loss")):
        loss.plot(steps, [max(r[key], 1e-12) for r in history], color=color, label=label)
    loss.set_yscale("log")
    acc = loss.twinx()
    for key, color in (("train_acc", "tab:blue"), ("test_acc", "tab:red")):
        acc.plot(steps, [r[key] for r in history], color=color, ls="--", lw=1)
    acc.set_ylim(0, 1.02)
    acc.set_ylabel("accuracy (dashed)")
    _phases(loss, s, steps[-1])
    loss.set(xlabel="step", ylabel="loss", title=f"a + b mod {s['p']}: loss and accuracy")
    loss.legend(loc="lower left", fontsize=8)
    for key, color, label in (("restricted_loss", "tab:green", "restricted loss (key frequencies only)"),
                              ("excluded_loss", "tab:purple", "excluded loss (key frequencies removed, train)"),
                              ("test_loss", "tab:red", "test loss")):
        measures.plot(steps, [max(r[key], 1e-12) for r in history], color=color, label=label)
    measures.set_yscale("log")
    _phases(measures, s, steps[-1])
    measures.set(xlabel="step", ylabel="loss", title="progress measures")
    measures.legend(fontsize=8)
    _spectrum(spectrum, history, s)
    neurons.scatter(neuron_freqs, neuron_shares, s=8, alpha=0.6)
    neurons.set(xlabel="best frequency k", ylabel="share of the neuron's variance", ylim=(0, 1.02),
                title=f"{len(neuron_freqs)} feed-forward neurons at '='")
    for ax in (loss, measures, spectrum, neurons):
        ax.grid(alpha=0.3)
    return fig


def _spectrum(ax, history: list[dict[str, Any]], s: dict[str, Any]) -> None:
    end = history[-1]["frequency_norms"]
    ks = list(range(1, len(end) + 1))
    then = at_step(history, s["memorised_at"])
    width = 0.4 if then else 0.8
    if then:
        ax.bar([k - 0.2 for k in ks], then["frequency_norms"], width=width, color="tab:orange",
               label=f"at memorisation (step {s['memorised_at']})")
    ax.bar([k + (0.2 if then else 0) for k in ks], end, width=width, color="tab:blue",
           label=f"at the end (step {history[-1]['step']})")
    ax.set(xlabel="frequency k", ylabel="embedding norm", title="the embedding's Fourier spectrum")
    ax.legend(fontsize=8)
