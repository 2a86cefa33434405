"""The superposition lab's pictures, from a Sweep (data in, a matplotlib Figure out; never pyplot).

plot_sweep: one column per probability, dense on the left, sparse on the right:
    each feature's column W_i as an arrow in the plane (2 dimensions only)
    the Gram matrix WᵀW (blue +, red −; off the diagonal: interference)
    each feature's norm ||W_i|| as a bar, coloured by how much it shares its direction
plot_dimensionality: the paper's feature-dimensionality plot: D_i of every feature and the model's
    dimensions per feature m / ||W||_F², against 1 / P (how rarely a feature is present)
"""

from __future__ import annotations

from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from attnlab.labs.superposition.lab import Sweep

# The fractions the paper found features sticking to (D_i of each shape's features), and where the label sits.
STICKY = ((1.0, "1: a dimension alone", "center"), (3 / 4, "3/4: tetrahedron", "center"),
          (2 / 3, "2/3: triangle", "center"), (1 / 2, "1/2: antipodal pair", "center"),
          (2 / 5, "2/5: pentagon", "bottom"), (3 / 8, "3/8: square antiprism", "top"))


def _p(probability: float) -> str:
    return f"P = {probability:g}"


def plot_sweep(sweep: Sweep) -> Figure:
    cfg, points = sweep.cfg, sweep.points
    planes = cfg.dims == 2
    rows = 3 if planes else 2
    fig = Figure(figsize=(3.2 * len(points) + 1.0, 3.1 * rows + 0.4), layout="constrained")
    axes = fig.subplots(rows, len(points), squeeze=False)
    colors = colormaps["tab10"]
    share_norm = Normalize(0.0, max(1.0, max(max(p.sharing) for p in points)))
    share_map = colormaps["viridis"]
    for column, point in enumerate(points):
        ax_iter = iter(axes[:, column])
        if planes:
            ax = next(ax_iter)
            limit = max(1.2, 1.1 * max(point.norms))
            for i, (x, y) in enumerate(point.W.T.tolist()):
                ax.annotate("", xy=(x, y), xytext=(0, 0),
                            arrowprops={"arrowstyle": "-|>", "color": colors(i % 10), "lw": 2})
                if point.norms[i] >= 0.05:
                    ax.text(1.08 * x, 1.08 * y, str(i), ha="center", va="center", fontsize=9, color=colors(i % 10))
            ax.set(xlim=(-limit, limit), ylim=(-limit, limit), aspect="equal", xticks=[], yticks=[],
                   title=f"{_p(point.probability)}: {len(point.represented)} of {cfg.features} features")
            ax.axhline(0, color="0.85", lw=0.8, zorder=0)
            ax.axvline(0, color="0.85", lw=0.8, zorder=0)
        ax = next(ax_iter)
        G = point.W.T @ point.W  # (n, n)
        vmax = max(1e-6, G.abs().max().item())
        image = ax.imshow(G.numpy(), cmap="RdBu", vmin=-vmax, vmax=vmax, interpolation="nearest")
        title = f"WᵀW, loss {point.loss:.4f}"
        ax.set(title=title if planes else f"{_p(point.probability)}: {title}", xlabel="feature j", ylabel="feature i")
        fig.colorbar(image, ax=ax, shrink=0.8)
        ax = next(ax_iter)
        order = list(range(cfg.features))
        ax.barh(order, point.norms, color=[share_map(share_norm(s)) for s in point.sharing])
        ax.set(xlim=(0, max(1.25, 1.05 * max(point.norms))), ylim=(cfg.features - 0.5, -0.5),
               xlabel="||W_i||", ylabel="feature i", title="norm, coloured by sharing")
        ax.axvline(1.0, color="0.6", lw=0.8, ls="--")
    fig.colorbar(ScalarMappable(norm=share_norm, cmap=share_map), ax=axes[-1, :].tolist(),
                 label="sharing: Σ over j ≠ i of (Ŵ_i·W_j)²", shrink=0.8)
    fig.suptitle(f"{cfg.features} features in {cfg.dims} dimensions, dense → sparse "
                 f"(feature i weighs {cfg.importance:g}^i; best of {cfg.instances} per P)")
    return fig


def plot_dimensionality(sweep: Sweep) -> Figure:
    cfg, points = sweep.cfg, sweep.points
    fig = Figure(figsize=(9, 5.5), layout="constrained")
    ax = fig.subplots()
    inverse = [1 / p.probability for p in points]
    for x, point in zip(inverse, points):
        ax.scatter([x] * cfg.features, point.dimensionality, s=10, alpha=0.35, color="tab:blue", linewidths=0)
    ax.plot(inverse, [p.dimensions_per_feature for p in points], color="black", lw=1.5, marker="o", ms=3,
            label="dimensions per feature, m / ||W||_F²")
    for value, text, va in STICKY:
        ax.axhline(value, color="0.7", lw=0.7, ls="--")
        ax.text(1.01, value, text, transform=ax.get_yaxis_transform(), fontsize=8, va=va, color="0.4")
    ax.scatter([], [], s=10, color="tab:blue", label="each feature's dimensionality D_i")
    ax.set_xscale("log")
    ax.set(xlabel="1 / P (a feature is present once in this many samples)", ylabel="dimensions",
           ylim=(-0.02, 1.1), title=f"{cfg.features} features in {cfg.dims} dimensions: feature dimensionality")
    ax.legend(loc="upper right", fontsize=8)
    ax.grid(alpha=0.3, which="both")
    return fig
