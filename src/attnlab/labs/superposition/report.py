"""The sweep in plain words: a table of the measures and one sentence per probability.

    >>> import textwrap, torch
    >>> from attnlab.labs.superposition.lab import SweepPoint
    >>> square = torch.tensor([[1.0, 0.0, -1.0, 0.0, 0.01], [0.0, 1.0, 0.0, -1.0, 0.0]])
    >>> print(textwrap.fill(describe(SweepPoint(0.3, 0.1, [0.1], 0, square, torch.zeros(5))), 90))
    P = 0.3: 4 of the 5 features share the 2 dimensions (superposition), neighbours 90° apart:
    a square, with 2 antipodal pairs (0/2, 1/3); 1 dropped (4).
"""

from __future__ import annotations

import textwrap

import torch

from attnlab.labs.superposition.lab import Sweep, SweepPoint

SHAPES = {3: "a triangle", 4: "a square", 5: "a pentagon", 6: "a hexagon", 7: "a heptagon", 8: "an octagon"}
STORY = ("A dense feature is worth a dimension of its own, so the model keeps the most important ones and "
         "drops the rest. A sparse one is rarely present together with another, so features can share "
         "dimensions at angles: the small overlap they pick up when both appear costs less than losing "
         "them, and the bias with the ReLU cuts most of it away.")
LEGEND = ("kept: features with ||W_i|| >= 0.5. dims/feature: m / ||W||_F². mean D_i: the kept features' "
          "dimensionality ||W_i||² / Σ_j (Ŵ_i·W_j)² (1 alone, 1/2 in an antipodal pair, 2/5 in a pentagon). "
          "sharing: Σ over j≠i of (Ŵ_i·W_j)², 0 for a feature alone in its direction, '-' for one not kept.")
REGULAR_DEG = 5.0  # neighbours within this of 360/k degrees: a regular polygon
ANTIPODAL_COS = -0.9  # two represented features at least this opposed: an antipodal pair
DROPPED = 0.1  # a column shorter than this: the feature is dropped (between this and REPRESENTED: in part)
WHOLE = 0.95  # m / ||W||_F² at least this: no more than m features' worth, however it is spread
ORTHOGONAL = 0.05  # no represented feature shares more than this: each has its own direction


def _ids(items: list, most: int = 8) -> str:
    """The first `most` items, then how many more.

    >>> _ids(list(range(20)))
    '0, 1, 2, 3, 4, 5, 6, 7 and 12 more'
    """
    shown = ", ".join(str(i) for i in items[:most])
    return shown if len(items) <= most else f"{shown} and {len(items) - most} more"


def antipodal_pairs(point: SweepPoint) -> list[tuple[int, int]]:
    """Represented features pointing (nearly) opposite ways, each feature in at most one pair."""
    keep = point.represented
    unit = point.W[:, keep] / point.W[:, keep].norm(dim=0)  # (m, k)
    cos = unit.T @ unit  # (k, k)
    pairs, used = [], set()
    for a in range(len(keep)):
        for b in range(a + 1, len(keep)):
            if cos[a, b] <= ANTIPODAL_COS and a not in used and b not in used:
                pairs.append((keep[a], keep[b]))
                used |= {a, b}
    return pairs


def describe(point: SweepPoint) -> str:
    """One sentence: how many features the best instance keeps, whether they share dimensions, and
    in what shape."""
    m, n = point.W.shape
    keep, norms = point.represented, point.norms
    partly = [i for i in range(n) if i not in keep and norms[i] >= DROPPED]
    dropped = [i for i in range(n) if norms[i] < DROPPED]
    kept = f"all {n}" if len(keep) == n else f"{len(keep)} of the {n}"
    if not keep:
        text = f"no feature is represented (all {n} dropped)"
    elif len(keep) <= m and max(point.sharing[i] for i in keep) < ORTHOGONAL:
        text = f"{kept} features get a dimension each (no superposition: their columns are orthogonal)"
    elif point.dimensions_per_feature >= WHOLE:
        text = (f"{kept} features kept, spread over the {m} dimensions but only {m} features' worth in all "
                f"(m / ||W||_F² = {point.dimensions_per_feature:.2f}: no superposition)")
    elif len(keep) <= m:
        text = (f"{kept} features in the {m} dimensions, not orthogonal (sharing up to "
                f"{max(point.sharing[i] for i in keep):.2f})")
    else:
        text = f"{kept} features share the {m} dimensions (superposition)"
        angles = point.angles
        if angles:
            low, high = round(min(angles)), round(max(angles))
            text += f", neighbours {low}°{'' if low == high else f'–{high}°'} apart"
            if len(angles) in SHAPES and all(abs(a - 360 / len(angles)) <= REGULAR_DEG for a in angles):
                text += f": {SHAPES[len(angles)]}"
        pairs = antipodal_pairs(point)
        if pairs:
            text += (f", with {len(pairs)} antipodal pair{'s' if len(pairs) > 1 else ''} "
                     f"({_ids([f'{a}/{b}' for a, b in pairs])})")
    if keep and partly:
        low, high = min(norms[i] for i in partly), max(norms[i] for i in partly)
        text += f"; {len(partly)} only in part ({_ids(partly)}: norms {low:.2f}" + (
            f"–{high:.2f})" if high - low >= 0.005 else ")")
    if keep and dropped:
        text += f"; {len(dropped)} dropped ({_ids(dropped)})"
    return f"P = {point.probability:g}: {text}."


def _cells(values: list[float], keep: list[int] | None = None) -> str:
    return " ".join(f"{v:4.2f}" if keep is None or i in keep else "   -" for i, v in enumerate(values))


def table(sweep: Sweep, max_features: int = 10) -> list[str]:
    """The measures of each probability's best instance, one line each (per-feature columns only
    for up to max_features features)."""
    n = sweep.cfg.features
    wide = n <= max_features
    head = f"{'P':>7}  {'loss':>8}  {'kept':>9}  {'dims/feature':>12}  {'mean D_i':>8}"
    if wide:
        head += f"  {'norms ||W_i||':<{5 * n}}  {'sharing Σ(Ŵ_i·W_j)²':<{5 * n}}"
    lines = [head]  # mean D_i: over the represented features
    for point in sweep.points:
        line = (f"{point.probability:>7g}  {point.loss:>8.4f}  {len(point.represented):>4} / {n:<3}"
                f"  {point.dimensions_per_feature:>12.3f}  {mean_dimensionality(point):>8.3f}")
        if wide:
            line += f"  {_cells(point.norms):<{5 * n}}  {_cells(point.sharing, point.represented):<{5 * n}}"
        lines.append(line.rstrip())
    return lines


def mean_dimensionality(point: SweepPoint) -> float:
    """The mean D_i over the represented features (0 if none)."""
    keep = point.represented
    return float(torch.tensor(point.dimensionality)[keep].mean()) if keep else 0.0


def report(sweep: Sweep) -> list[str]:
    """What `attnlab superposition` prints: the setting, the table, a sentence per probability, the
    story and the legend (an interrupted sweep says where it stopped)."""
    cfg = sweep.cfg
    weights = "all features weigh the same" if cfg.importance == 1 else f"feature i weighs {cfg.importance:g}^i"
    starts = f"the best of {cfg.instances} starts" if cfg.instances > 1 else "one start"
    lines = [textwrap.fill(f"{cfg.features} features squeezed into {cfg.dims} dimensions, x' = ReLU(WᵀW x + b); "
                           f"{weights}; {starts} per probability P, {sweep.steps} Adam steps ({sweep.elapsed_s:.1f} s)",
                           width=100), ""]
    lines += ["  " + line for line in table(sweep)] + [""]
    lines += [describe(point) for point in sweep.points] + [""]
    lines += [textwrap.fill(STORY, width=100), "", textwrap.fill(LEGEND, width=100)]
    if sweep.interrupted:
        lines.append(f"\ninterrupted at step {sweep.steps} of {cfg.steps}: these are the weights reached so far")
    return lines
