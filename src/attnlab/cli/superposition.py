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

from attnlab.cli._lab import add_settings, print_json, print_lines, settings_from_args
from attnlab.cli._progress import Progress
from attnlab.cli._runtime_args import add_runtime_args, use_runtime
from attnlab.cli._source_args import check_writable
from attnlab.labs.superposition.config import LAB, ToyConfig

# --dimensionality: the paper's feature-dimensionality experiment (flags given still win).
DIMENSIONALITY = {"features": 100, "dims": 20, "importance": 1.0, "instances": 1, "steps": 3000,
                  "probabilities": tuple(round(10 ** (-k / 8), 4) for k in range(17))}  # 1, 0.7499, ... 0.01


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("superposition", help="toy models of superposition: 5 features in 2 dimensions",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_settings(p, ToyConfig, flags={"probabilities": ("--probability",)})
    p.add_argument("--dimensionality", action="store_true",
                   help="the paper's feature-dimensionality experiment: defaults become 100 features into 20 "
                        "dimensions, equal importance, 17 probabilities from 1 to 0.01, 1 instance, 3000 steps; "
                        "--png draws each feature's dimensionality against 1/P")
    p.add_argument("--png", metavar="FILE", help="save the picture (.png, .svg or .pdf)")
    p.add_argument("--json", action="store_true", help="print only {features, dims, sweep} as JSON")
    add_runtime_args(p, small=True)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def lab_config(args: argparse.Namespace) -> ToyConfig:
    """ToyConfig from the defaults (the dimensionality experiment's with --dimensionality), then
    --config, then the flags given."""
    return settings_from_args(ToyConfig, args, DIMENSIONALITY if args.dimensionality else {})


def run(args: argparse.Namespace) -> int:
    cfg = lab_config(args)
    check_writable(args.png)
    from attnlab.viz.png import figure_format, save_figure

    if args.png:
        figure_format(args.png)
    use_runtime(args)
    progress = Progress(lambda line: None, enabled=not (args.json or args.no_progress))
    try:
        sweep = LAB.run(cfg, progress)
    finally:
        progress.close()
    if args.png and not sweep.interrupted:  # a picture of half-trained weights would pass for the result
        from attnlab.labs.superposition.figures import plot_dimensionality, plot_sweep

        save_figure(plot_dimensionality(sweep) if args.dimensionality else plot_sweep(sweep), args.png)
    if args.json:
        print_json(sweep)
        return 130 if sweep.interrupted else 0
    print_lines(LAB.report(sweep))
    if sweep.interrupted and args.png:
        print(f"{args.png} was not written")
    elif args.png:
        print(f"\nwrote {args.png}")
    return 130 if sweep.interrupted else 0
