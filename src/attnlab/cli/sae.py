"""`attnlab sae`: train a sparse autoencoder on one point of a run, and say how good it is.

    attnlab sae --run runs/cpu-shakespeare-char                    # blocks.0.ffwd.hidden, 4x features
    attnlab sae --run runs/cpu-shakespeare-char --point blocks.2.out --expansion 8
    attnlab sae --run runs/cpu-shakespeare-char --resume --steps 4000
    attnlab sae --run runs/cpu-shakespeare-char --json

The SAE is saved inside the run, in sae-POINT-xEXPANSION/ (a run folder of its own: Ctrl-C saves,
--resume continues); `attnlab features --run RUN` browses what it found. Reported, on tokens of the
validation text: L0 (features active per token), variance explained, the loss recovered when the
reconstruction replaces the activation ((CE_ablated − CE_sae) / (CE_ablated − CE_clean)), dead
features (never active) and dense ones (active on more than 10% of the tokens).
"""

from __future__ import annotations

import argparse

from attnlab.cli._lab import add_settings, print_json, print_lines, settings_from_args
from attnlab.cli._runtime_args import add_runtime_args, use_runtime

# the keys of `--json` (attnlab.labs.sae.lab.KEYS, which imports torch)
KEYS = ("run", "point", "features", "l0", "variance_explained", "ce_clean", "ce_sae", "ce_ablated",
        "loss_recovered", "dead", "dense", "sae")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from attnlab.labs.sae.settings import SAESettings

    p = subparsers.add_parser("sae", help="train a sparse autoencoder on a run's activations",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_settings(p, SAESettings)
    p.add_argument("--json", action="store_true", help=f"print only {{{', '.join(KEYS)}}} as JSON")
    add_runtime_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from attnlab.labs.sae.settings import LAB, SAESettings

    settings = settings_from_args(SAESettings, args)
    use_runtime(args)
    say = (lambda line: None) if args.json else print

    def on_event(kind: str, info: dict) -> None:
        if kind == "collect":
            say(f"collecting {info['point']} on {info['tokens']} training tokens and {info['eval_tokens']} "
                f"validation tokens")
        elif kind == "eval":
            say(f"step {info['step']:>6}: L0 {info['l0']:.1f}, variance explained {info['variance_explained']:.3f}, "
                f"dead {info['dead']}, dense {info['dense']}")
        elif kind == "resample":
            say(f"step {info['step']:>6}: resampled {info['revived']} dead features")

    result = LAB.run(settings, on_event)
    if args.json:
        print_json(result)
    else:
        print_lines(LAB.report(result))
    return 130 if result.interrupted else 0
