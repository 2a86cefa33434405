"""`attnlab superposition`: a layer stores more sparse features than it has dimensions (Elhage et al. 2022).

    attnlab superposition                          # 5 features into 2 dimensions, dense -> sparse
    attnlab superposition --png superposition.png  # the arrows, the Gram matrices, norms and sharing
    attnlab superposition --probability 0.05 --importance 1 --json
    attnlab superposition --dimensionality --png dimensionality.png   # the paper's 100-into-20 plot

The toy model x' = ReLU(Wᵀ W x + b) squeezes n features (each present with probability P, then
uniform in [0, 1]) through m dimensions and back, trained to minimise the squared error weighted
by each feature's importance. For every P, several instances train at once from different starts;
the best (lowest loss) is reported. `--json` prints {"features", "dims", "sweep": [{"probability",
"loss", "W"}]}, W being the best instance's, dims × features.
"""

from __future__ import annotations

import argparse
import json
import textwrap

from attnlab.cli._progress import Progress
from attnlab.cli._source_args import check_writable
from attnlab.errors import UserError
from attnlab.labs.superposition.config import ToyConfig

DEFAULTS = ToyConfig()
# --dimensionality: the paper's feature-dimensionality experiment (flags given still win).
DIMENSIONALITY = {"features": 100, "dims": 20, "importance": 1.0, "instances": 1, "steps": 3000,
                  "probabilities": tuple(round(10 ** (-k / 8), 4) for k in range(17))}  # 1, 0.7499, ... 0.01
STORY = ("A dense feature is worth a dimension of its own, so the model keeps the most important ones and "
         "drops the rest. A sparse one is rarely present together with another, so features can share "
         "dimensions at angles: the small overlap they pick up when both appear costs less than losing "
         "them, and the bias with the ReLU cuts most of it away.")
LEGEND = ("kept: features with ||W_i|| >= 0.5. dims/feature: m / ||W||_F². mean D_i: the kept features' "
          "dimensionality ||W_i||² / Σ_j (Ŵ_i·W_j)² (1 alone, 1/2 in an antipodal pair, 2/5 in a pentagon). "
          "sharing: Σ over j≠i of (Ŵ_i·W_j)², 0 for a feature alone in its direction, '-' for one not kept.")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("superposition", help="toy models of superposition: 5 features in 2 dimensions",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--features", type=int, help=f"n, the number of features (default: {DEFAULTS.features})")
    p.add_argument("--dims", type=int, help=f"m, the dimensions they pass through (default: {DEFAULTS.dims})")
    p.add_argument("--probability", type=float, nargs="+", metavar="P",
                   help="the sweep: the chance that each feature is present, one or more values, dense to sparse "
                        f"(default: {' '.join(f'{v:g}' for v in DEFAULTS.probabilities)})")
    p.add_argument("--importance", type=float, metavar="DECAY",
                   help=f"feature i weighs DECAY ** i in the loss; 1: all equal (default: {DEFAULTS.importance:g})")
    p.add_argument("--instances", type=int,
                   help=f"models trained from different starts per probability; the best is kept (default: "
                        f"{DEFAULTS.instances})")
    p.add_argument("--steps", type=int, help=f"Adam steps (default: {DEFAULTS.steps})")
    p.add_argument("--batch-size", type=int, help=f"fresh samples per step (default: {DEFAULTS.batch_size})")
    p.add_argument("--lr", type=float, help=f"Adam learning rate, constant (default: {DEFAULTS.lr:g})")
    p.add_argument("--seed", type=int, help=f"the starts and the samples (default: {DEFAULTS.seed})")
    p.add_argument("--dimensionality", action="store_true",
                   help="the paper's feature-dimensionality experiment: defaults become 100 features into 20 "
                        "dimensions, equal importance, 17 probabilities from 1 to 0.01, 1 instance, 3000 steps; "
                        "--png draws each feature's dimensionality against 1/P")
    p.add_argument("--png", metavar="FILE", help="save the picture (.png, .svg or .pdf)")
    p.add_argument("--json", action="store_true", help="print only {features, dims, sweep} as JSON")
    p.add_argument("--threads", type=int, default=1, help="CPU threads for torch (0: PyTorch's choice) (default: 1)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def lab_config(args: argparse.Namespace) -> ToyConfig:
    """ToyConfig from the defaults (the dimensionality experiment's with --dimensionality), then the flags given."""
    values = dict(DIMENSIONALITY) if args.dimensionality else {}
    given = {"features": args.features, "dims": args.dims, "probabilities": args.probability,
             "importance": args.importance, "instances": args.instances, "steps": args.steps,
             "batch_size": args.batch_size, "lr": args.lr, "seed": args.seed}
    values.update({name: value for name, value in given.items() if value is not None})
    return ToyConfig(**values)


def run(args: argparse.Namespace) -> int:
    cfg = lab_config(args)
    if args.threads < 0:
        raise UserError(f"--threads must be >= 0, got {args.threads}")
    check_writable(args.png)
    import torch

    from attnlab.labs.superposition.lab import run_sweep, summary
    from attnlab.labs.superposition.report import describe, table
    from attnlab.viz.png import figure_format, save_figure

    if args.png:
        figure_format(args.png)
    if args.threads:
        torch.set_num_threads(args.threads)
    progress = Progress(lambda line: None, enabled=not (args.json or args.no_progress))
    try:
        sweep = run_sweep(cfg, on_event=progress)
    finally:
        progress.close()
    if args.png and not sweep.interrupted:  # a picture of half-trained weights would pass for the result
        from attnlab.labs.superposition.figures import plot_dimensionality, plot_sweep

        save_figure(plot_dimensionality(sweep) if args.dimensionality else plot_sweep(sweep), args.png)
    if args.json:
        print(json.dumps(summary(sweep), allow_nan=False))
        return 130 if sweep.interrupted else 0
    weights = "all features weigh the same" if cfg.importance == 1 else f"feature i weighs {cfg.importance:g}^i"
    starts = f"the best of {cfg.instances} starts" if cfg.instances > 1 else "one start"
    print(textwrap.fill(f"{cfg.features} features squeezed into {cfg.dims} dimensions, x' = ReLU(WᵀW x + b); "
                        f"{weights}; {starts} per probability P, {sweep.steps} Adam steps ({sweep.elapsed_s:.1f} s)",
                        width=100))
    print()
    for line in table(sweep):
        print("  " + line)
    print()
    for point in sweep.points:
        print(describe(point))
    print()
    print(textwrap.fill(STORY, width=100))
    print()
    print(textwrap.fill(LEGEND, width=100))
    if sweep.interrupted:
        print(f"\ninterrupted at step {sweep.steps} of {cfg.steps}: these are the weights reached so far"
              + (f"; {args.png} was not written" if args.png else ""))
    elif args.png:
        print(f"\nwrote {args.png}")
    return 130 if sweep.interrupted else 0
