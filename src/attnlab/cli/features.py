"""`attnlab features`: browse what a run's sparse autoencoder found, beside the raw neurons.

    attnlab features --run runs/cpu-shakespeare-char                 # features by density
    attnlab features --run runs/cpu-shakespeare-char --feature 17    # one feature in full
    attnlab features --run runs/cpu-shakespeare-char --neurons --feature 5
    attnlab features --run runs/cpu-shakespeare-char --text "To be, or not to be"
    attnlab features --run runs/cpu-shakespeare-char --html features.html

Every number is measured on windows of the run's validation text (--tokens of them): a unit's
density (share of tokens where it is active), its top contexts (the text around its strongest
tokens, shaded by its activation), the tokens its direction promotes and suppresses (through
ffwd.down, ln_f and lm_head: Bricken et al.'s logit weights) and its specificity (the share of its
50 strongest activations that sit on its most frequent token there). Train the SAE first with
`attnlab sae --run RUN`.
"""

from __future__ import annotations

import argparse

from attnlab.cli._lab import add_settings, print_json, print_lines, settings_from_args
from attnlab.cli._runtime_args import add_runtime_args, use_runtime


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from attnlab.labs.sae.settings import FeaturesSettings

    p = subparsers.add_parser("features", help="browse an SAE's features (and the raw neurons) of a run",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_settings(p, FeaturesSettings, flags={"unit": ("--feature",)})
    p.add_argument("--neurons", dest="kind", action="store_const", const="neuron", default=argparse.SUPPRESS,
                   help="the point's raw neurons instead of the SAE's features (--kind neuron)")
    p.add_argument("--html", metavar="FILE", help="write the whole browser (features and neurons) as one page")
    p.add_argument("--json", action="store_true", help="print the answer as JSON, as the web lab's Features panel "
                                                       "sends it")
    add_runtime_args(p)
    p.set_defaults(func=run, model=None)


def run(args: argparse.Namespace) -> int:
    from attnlab.cli._source_args import check_writable, load_source
    from attnlab.labs.sae.settings import FEATURES, FeaturesSettings

    settings = settings_from_args(FeaturesSettings, args)
    check_writable(args.html)
    use_runtime(args)
    args.run = settings.run  # (a --config file may name it)
    result = FEATURES.run(settings, opened=load_source(args))
    if args.json:
        print_json(result)
    else:
        print_lines(FEATURES.report(result))
    if args.html:
        from attnlab.labs.sae.page import save_page

        save_page(args.html, result.browser.page_data(result.sae))
        if not args.json:
            print(f"wrote {args.html}")
    return 0
