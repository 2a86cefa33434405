"""An `Explanation` (attnlab.explanation) as plain text: one block per step (name, shape, formula, values).

Columns are aligned by display width, so Hangul and other wide characters (two terminal cells
each, `unicodedata.east_asian_width` "W" or "F") line up with ASCII:

    >>> display_width("나는"), fit("사과를", 5) + "|"
    (4, '사과 |')
"""

from __future__ import annotations

import unicodedata

import torch

from attnlab.explanation import Explanation, Step


def display_width(text: str) -> int:
    """Terminal cells `text` takes: 2 for a wide character, 0 for a combining mark, else 1."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 0 if unicodedata.combining(c) else 1
               for c in text)


def fit(text: str, width: int, align: str = "<") -> str:
    """`text` cut to at most `width` cells, then padded to exactly `width` (align "<" or ">")."""
    while display_width(text) > width:
        text = text[:-1]
    pad = " " * (width - display_width(text))
    return text + pad if align == "<" else pad + text


def _num(x: float | int, decimals: int) -> str:
    if isinstance(x, int):  # token ids
        return str(x)
    return "-inf" if x == float("-inf") else f"{x:.{decimals}f}"


def _summary(t: torch.Tensor, decimals: int, head: int = 6) -> str:
    shown = ", ".join(_num(x, decimals) for x in t.flatten()[:head].tolist())
    flat = t.flatten().float()
    finite = flat[torch.isfinite(flat)]
    stats = f"mean {finite.mean():.{decimals}f} std {finite.std(unbiased=False):.{decimals}f}" if len(finite) else ""
    return f"[{shown}{', ...' if len(flat) > head else ''}]  {stats}"


def _label(tokens: list[str] | None, i: int) -> str:
    return f"{i}:{tokens[i]}" if tokens is not None and i < len(tokens) else str(i)


def _take(t: torch.Tensor, axes: dict[str, int], name: str, index: int) -> tuple[torch.Tensor, dict[str, int]]:
    """Select `index` on the axis called `name`; the axes after it move down by one."""
    axis = axes[name]
    return t.select(axis, index), {k: a - (a > axis) for k, a in axes.items() if k != name}


def _shown(step: Step, token: int | None, head: int | None) -> tuple[torch.Tensor, dict[str, int], bool]:
    """The part of the step to print: batch of one dropped, the chosen head, the chosen query row.
    Returns (tensor, its remaining named axes, whether one query's row was taken)."""
    t = step.value
    axes = {k: a for k, a in (("token", step.token_dim), ("key", step.key_dim), ("head", step.head_dim))
            if a is not None}
    if t.dim() >= 2 and t.shape[0] == 1 and axes.get("token", 0) != 0:  # batch of one: drop it
        t, axes = _take(t, {**axes, "batch": 0}, "batch", 0)
    if head is not None and "head" in axes:
        t, axes = _take(t, axes, "head", head)
    if token is not None and "token" in axes and t.dim() > 1:
        t, axes = _take(t, axes, "token", token)
        return t, axes, True
    return t, axes, False


def _table(t: torch.Tensor, axes: dict[str, int], tokens: list[str] | None, decimals: int) -> list[str]:
    """A (rows, cols) tensor as aligned rows, token labels down the side (and across, for keys)."""
    lines = []
    if axes.get("key") == 1 and tokens is not None:
        lines.append("    " + " " * 12 + " ".join(fit(_label(tokens, j), 8, ">") for j in range(t.shape[1])))
    for i, row in enumerate(t.tolist()):
        name = _label(tokens, i) if axes.get("token") == 0 else str(i)
        lines.append("    " + fit(name, 12) + " ".join(f"{_num(x, decimals):>8}" for x in row))
    return lines


def _format_step(step: Step, tokens: list[str] | None, token: int | None, head: int | None,
                 decimals: int, max_cols: int) -> list[str]:
    t, axes, one_row = _shown(step, token, head)
    if t.dim() == 0 or t.numel() == 1:
        return [f"    {_num(t.item(), decimals)}"]
    prefix = f"    {_label(tokens, token)}: " if one_row else "    "
    if t.dim() == 1 and "key" in axes and t.numel() <= 4 * max_cols:  # one query's row over the keys
        cells = [f"{_label(tokens, j)}={_num(x, decimals)}" for j, x in enumerate(t.tolist())]
        indent = " " * display_width(prefix)
        return [(prefix if i == 0 else indent) + "  ".join(cells[i:i + 8]) for i in range(0, len(cells), 8)]
    if t.dim() == 1 and t.numel() <= max_cols:
        return [prefix + "[" + ", ".join(_num(x, decimals) for x in t.tolist()) + "]"]
    if t.dim() == 2 and t.shape[0] <= 16 and t.shape[1] <= max_cols:
        return _table(t, axes, tokens, decimals)
    where = f" (token {_label(tokens, token)})" if one_row else ""
    return [f"    {_summary(t, decimals)}{where}"]


def format_explanation(ex: Explanation, token: int | None = None, decimals: int = 3, max_cols: int = 16) -> str:
    """Plain text, one block per step: name, shape, formula, values. Tensors too large for a
    table are summarised (first values, mean, std); `token` shows only that query's row; a
    step that holds every head shows `ex.head`'s."""
    lines = [ex.title] if ex.title else []
    if ex.tokens is not None:
        lines.append("tokens: " + "  ".join(_label(ex.tokens, i) for i in range(len(ex.tokens))))
    width = max(len(s.name) for s in ex.steps)
    for step in ex.steps:
        shape = "(" + ", ".join(str(n) for n in step.value.shape) + ")"
        which = f"  [head {ex.head} shown]" if ex.head is not None and step.head_dim is not None else ""
        lines.append(f"{step.name:<{width}}  {shape:<16} {step.formula}{which}")
        lines.extend(_format_step(step, ex.tokens, token, ex.head, decimals, max_cols))
    return "\n".join(lines)


def contribution_sentence(ex: Explanation, row: int = 0) -> str:
    """One line for a weighted-sum explanation (`explain_weighted_sum`): the token with the
    biggest share of query `row`'s output, by norm against by raw weight (Kobayashi et al. 2020).

    >>> from attnlab.look.explain import SEED_000, explain_weighted_sum
    >>> ex = explain_weighted_sum(SEED_000["weights"], SEED_000["values"], ["느금마", "만수무강", "ㅇㅈㄹ"])
    >>> print(contribution_sentence(ex))  # doctest: +NORMALIZE_WHITESPACE
    By weight 만수무강 gets 80.0% of 느금마's attention, but its value vector is louder: 98.2% of the
    new 느금마 vector (measured by the length of weight × value) comes from 만수무강.
    """
    weights, share = ex["weights"][row], ex["share"][row]  # (S,)
    j = int(share.argmax())

    def name(i: int) -> str:
        return ex.tokens[i] if ex.tokens is not None and i < len(ex.tokens) else f"token {i}"

    louder = "louder" if share[j] >= weights[j] else "quieter"
    return (f"By weight {name(j)} gets {100 * weights[j]:.1f}% of {name(row)}'s attention, but its value vector "
            f"is {louder}: {100 * share[j]:.1f}% of the new {name(row)} vector (measured by the length of "
            f"weight × value) comes from {name(j)}.")
