"""What the induction lab found: one figure per model and a report in plain words.

`plot_head_scores` draws every head's three scores (`attnlab heads --detect --png`).
`plot_model` draws the phase change: the top heads' scores (upper panel) and the in-context loss
ratio, second-copy loss / first-copy loss (lower panel), against the training step. It returns a
`matplotlib.figure.Figure` and never touches pyplot or the backend. `report_paragraphs` says in
words what each model did; `report_markdown` wraps them with a table and the figures.
"""

from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure

from attnlab.labs.induction.config import LabConfig
from attnlab.labs.induction.results import InductionResult, ModelResult
from attnlab.labs.induction.scores import SCORES, HeadScores

LINES = (("induction", "tab:red"), ("previous", "tab:blue"), ("duplicate", "tab:green"))


def _series(history: list[dict[str, Any]], layer: int, head: int, name: str) -> list[float]:
    return [next(h[name] for h in record["heads"] if (h["layer"], h["head"]) == (layer, head))
            for record in history]


def plot_model(result: ModelResult, threshold: float = 0.4) -> Figure:
    """Scores of the heads that end highest on each score, and the loss ratio, against the step."""
    steps = [record["step"] for record in result.history]
    fig = Figure(figsize=(7.5, 5.5), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 2])
    for name, color in LINES:
        layer, head, _ = result.scores.best(name)
        top.plot(steps, _series(result.history, layer, head, name), color=color, lw=1.8,
                 label=f"{name} score, layer {layer} head {head}")
    top.axhline(threshold, color="grey", ls=":", lw=1, label=f"threshold {threshold}")
    top.set_ylim(0, 1.02)
    top.set_ylabel("head score")
    top.legend(loc="upper left", fontsize=8)
    top.set_title(f"{result.layers}-layer attention-only model")
    bottom.plot(steps, [record["loss_ratio"] for record in result.history], color="black", lw=1.8)
    bottom.axhline(1.0, color="grey", ls=":", lw=1)
    bottom.set_ylim(0, max(1.1, max(record["loss_ratio"] for record in result.history) * 1.05))
    bottom.set_ylabel("second-copy loss /\nfirst-copy loss")
    bottom.set_xlabel("training step")
    if result.formed_at_step is not None:
        for ax in (top, bottom):
            ax.axvline(result.formed_at_step, color="tab:red", ls="--", lw=1)
        top.annotate(f"induction score > {threshold}\nat step {result.formed_at_step}",
                     (result.formed_at_step, 0.05), xytext=(6, 0), textcoords="offset points", fontsize=8)
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
    return fig


def _heads(heads: list[tuple[int, int]]) -> str:
    return ", ".join(f"{layer}.{head}" for layer, head in heads) or "none"


def _model_paragraph(r: ModelResult, threshold: float) -> str:
    il, ih, iscore = r.scores.best("induction")
    pl, ph, pscore = r.scores.best("previous")
    ratio = r.second_copy_loss / r.first_copy_loss
    if r.formed_at_step is not None:
        heads = (f"Head {il}.{ih} (layer.head) became an induction head: at the end it puts {iscore:.0%} of its "
                 f"attention on the token after the earlier copy, and its score first passed {threshold} at "
                 f"step {r.formed_at_step}. Head {pl}.{ph} is the best previous-token head ({pscore:.0%} "
                 f"of its attention on the token just before).")
    else:
        heads = (f"No head became an induction head: the best induction score is {iscore:.2f} (head {il}.{ih}), "
                 f"below {threshold}. The best previous-token score is {pscore:.2f} (head {pl}.{ph}).")
    loss = (f"On a fresh random sequence repeated twice, the loss on the second copy is "
            f"{r.second_copy_loss:.2f} nats against {r.first_copy_loss:.2f} on the first ({ratio:.0%}): "
            + ("the model reads the answer off the first copy." if ratio <= 0.5 else
               "seeing the sequence once helps it little."))
    detected, base, sets = r.check.ablate_detected, r.check.baseline, r.check.random_sets
    ablation = (f"Zeroing heads {_heads(r.check.detected)} moves the second-copy loss from {base:.2f} to "
                f"{detected:.2f} ({detected / base:.1f}x); ")
    if not sets:
        return f"{heads} {loss} {ablation}there are no other heads to compare with."
    if len(sets[0]) < len(r.check.detected):  # fewer other heads than detected ones: one set
        others = f"the other {'head' if len(sets[0]) == 1 else 'heads'} ({_heads(sets[0])}), all there are,"
    else:
        others = f"as many other heads chosen at random ({len(sets)} draws, median)"
    ablation += (f"zeroing {others} moves it to {r.check.ablate_random:.2f} "
                 f"({r.check.ablate_random / base:.2f}x).")
    return f"{heads} {loss} {ablation}{_others_alone(r.check.others_alone, base)}{_paths(r)}"


def _paths(r: ModelResult) -> str:
    """The path removal in words: which input of the layer-1 heads carries the induction."""
    removal = r.check.path_removal
    if removal is None:
        return ""
    first = r.first_copy_loss
    shares = {k: v / first for k, v in removal.items()}
    words = (f" Removing every layer-0 head's output from the layer-1 heads' keys only puts the second-copy "
             f"loss at {removal['key']:.2f} ({shares['key']:.0%} of the first copy's); from their queries only, "
             f"{removal['query']:.2f} ({shares['query']:.0%}); from their values only, {removal['value']:.2f} "
             f"({shares['value']:.0%}).")
    carrier = max(shares, key=shares.get)
    rest = [k for k in shares if k != carrier]
    if shares[carrier] >= 0.8 and all(shares[k] <= 0.5 for k in rest):
        words += (f" The induction travels through the {carrier}s: "
                  + ("a layer-1 head finds the earlier copy by matching its query against keys that carry each "
                     "token's predecessor, which a layer-0 head wrote there (K-composition)."
                     if carrier == "key" else f"the layer-1 heads need what layer 0 wrote only in their {carrier}s."))
    else:
        words += " No single path carries it alone."
    return words


def _others_alone(alone: dict[tuple[int, int], float], base: float) -> str:
    """Which of the other heads the second copy needs, each zeroed on its own (10% or more: needed)."""
    if not alone:
        return ""
    needed = {head: loss for head, loss in alone.items() if loss >= 1.1 * base}
    idle = [head for head in alone if head not in needed]
    words = " Zeroed one at a time, "
    if needed:
        words += ("the other heads that matter are " +
                  ", ".join(f"{l}.{h} ({loss:.2f}, {loss / base:.2f}x)" for (l, h), loss in needed.items()) +
                  ": not induction or previous-token heads, but the second copy leans on them too")
        words += f"; {_heads(idle)} {'is' if len(idle) == 1 else 'are'} idle (under 1.1x)." if idle else "."
    else:
        words += f"none of the other heads moves it by 10% ({_heads(idle)})."
    return words


def report_paragraphs(results: list[ModelResult], cfg: LabConfig) -> list[str]:
    """One paragraph of plain words per model, then one that compares them."""
    paragraphs = [f"{r.layers}-layer model ({r.elapsed_s:.0f} s): {_model_paragraph(r, cfg.threshold)}"
                  for r in results]
    formed = [r.layers for r in results if r.formed_at_step is not None]
    unformed = [r.layers for r in results if r.formed_at_step is None]
    if formed and unformed:
        paragraphs.append(
            f"Same data, width, heads and seed; only the depth differs. With {min(formed)} layers an induction "
            f"head forms, with {max(unformed)} it does not: a head in layer 0 sees only tokens, so it can "
            f"find where the current token occurred before but not what followed it. That needs a layer-0 "
            f"head to write each token's predecessor into the residual stream first, and a later head to "
            f"match on it.")
    return paragraphs


def report_markdown(results: list[ModelResult], cfg: LabConfig) -> str:
    """The report as Markdown: the paragraphs, a table of the numbers, and each model's figure."""
    lines = ["# Induction-head lab", "",
             f"Attention-only GPTs, width {cfg.d_model}, {cfg.n_heads} heads per layer, vocabulary "
             f"{cfg.vocab_size}, trained {cfg.steps} steps of {cfg.batch_size} x {cfg.block_size} tokens on "
             f"random chunks of {cfg.min_len}-{cfg.max_len} tokens that each come twice (seed {cfg.seed}). "
             f"Evaluated on {cfg.eval_batch} random sequences of {cfg.n} tokens repeated twice.", ""]
    for paragraph in report_paragraphs(results, cfg):
        lines += [paragraph, ""]
    lines += ["| layers | best induction head | best previous-token head | first-copy loss | second-copy loss "
              "| ablate detected | ablate random (median) | formed at step | remove layer 0 from keys / queries / "
              "values |", "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        s = r.summary()
        ind, prev = s["best_induction"], s["best_previous"]
        lines.append(f"| {r.layers} | {ind['layer']}.{ind['head']} ({ind['score']:.2f}) | "
                     f"{prev['layer']}.{prev['head']} ({prev['score']:.2f}) | {s['first_copy_loss']:.2f} | "
                     f"{s['second_copy_loss']:.2f} | {s['ablate_detected']:.2f} | {s['ablate_random']:.2f} | "
                     f"{s['formed_at_step'] if s['formed_at_step'] is not None else '-'} | "
                     + (" / ".join(f"{s['path_removal'][k]:.2f}" for k in ("key", "query", "value"))
                        if "path_removal" in s else "-") + " |")
    lines.append("")
    for r in results:
        lines += [f"![{r.layers}-layer model](layers-{r.layers}/induction.png)", ""]
    return "\n".join(lines)


def plot_head_scores(scores: HeadScores, title: str | None = None) -> Figure:
    """The three scores as layer x head heatmaps side by side (values printed when they fit)."""
    L, H = scores.previous.shape
    fig = Figure(figsize=(3 * max(2.0, 0.45 * H + 1.0) + 1.0, max(2.5, 0.4 * L + 1.5)), layout="constrained")
    axes = fig.subplots(1, 3, sharey=True)
    image = None
    for ax, name in zip(axes, SCORES):
        table = getattr(scores, name).numpy()  # (L, H)
        image = ax.imshow(table, cmap="Reds", vmin=0.0, vmax=1.0, aspect="auto", interpolation="nearest")
        ax.set_title(f"{name} score")
        ax.set_xlabel("head")
        if L * H <= 64:
            for layer in range(L):
                for head in range(H):
                    ax.text(head, layer, f"{table[layer, head]:.2f}", ha="center", va="center", fontsize=7,
                            color="white" if table[layer, head] > 0.6 else "black")
    axes[0].set_ylabel("layer")
    fig.colorbar(image, ax=axes, shrink=0.8)
    if title:
        fig.suptitle(title)
    return fig


def report(result: InductionResult) -> list[str]:
    """What `attnlab induction` prints: a paragraph per model, then the time and the files."""
    lines = [""]
    for paragraph in report_paragraphs(result.models, result.settings):
        lines += [paragraph, ""]
    out = result.settings.out_dir
    lines.append(f"wall time {result.seconds:.0f} s; wrote {out}/report.md, summary.json and "
                 + ", ".join(f"layers-{r.layers}/induction.png" for r in result.models))
    return lines
