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
import json

from attnlab.errors import UserError
from attnlab.cli._runtime_args import add_runtime_args, use_runtime
from attnlab.io import finite

KEYS = ("run", "point", "features", "l0", "variance_explained", "ce_clean", "ce_sae", "ce_ablated",
        "loss_recovered", "dead", "dense", "sae")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from attnlab.labs.sae.settings import DEFAULT_POINT, SAERequest, TrainSettings

    req, tr = SAERequest(), TrainSettings()
    p = subparsers.add_parser("sae", help="train a sparse autoencoder on a run's activations",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True, help="the run folder (the SAE is saved inside it)")
    p.add_argument("--point", default=DEFAULT_POINT, help=f"a named point, one vector per token (default: {DEFAULT_POINT})")
    p.add_argument("--expansion", type=int, default=req.expansion, help=f"features per activation (default: {req.expansion})")
    p.add_argument("--l1", type=float, default=tr.l1, help=f"the L1 penalty's weight: higher is sparser (default: {tr.l1})")
    p.add_argument("--tokens", type=int, default=req.tokens, help=f"activations collected from the training text (default: {req.tokens})")
    p.add_argument("--eval-tokens", type=int, default=req.eval_tokens,
                   help=f"tokens of the validation text every number is measured on (default: {req.eval_tokens})")
    p.add_argument("--steps", type=int, default=tr.steps, help=f"Adam steps (default: {tr.steps})")
    p.add_argument("--batch-size", type=int, default=tr.batch_size, help=f"activations per step (default: {tr.batch_size})")
    p.add_argument("--lr", type=float, default=tr.lr, help=f"Adam's learning rate (default: {tr.lr})")
    p.add_argument("--resample-every", type=int, default=tr.resample_every,
                   help=f"resample dead features every N steps, 0: never (default: {tr.resample_every})")
    p.add_argument("--seed", type=int, default=tr.seed, help=f"the SAE's initial weights and batches (default: {tr.seed})")
    p.add_argument("--resume", action="store_true", help="continue the SAE saved in the run")
    p.add_argument("--overwrite", action="store_true", help="replace the SAE saved in the run")
    p.add_argument("--json", action="store_true", help=f"print only {{{', '.join(KEYS)}}} as JSON")
    add_runtime_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from attnlab.labs.sae.lab import run_sae
    from attnlab.labs.sae.settings import SAERequest, TrainSettings

    if args.resume and args.overwrite:
        raise UserError("--resume and --overwrite exclude each other")
    use_runtime(args)
    settings = TrainSettings(l1=args.l1, lr=args.lr, steps=args.steps, batch_size=args.batch_size,
                             resample_every=args.resample_every, seed=args.seed,
                             eval_interval=max(1, min(TrainSettings.eval_interval, args.steps)))
    request = SAERequest(point=args.point, expansion=args.expansion, tokens=args.tokens,
                         eval_tokens=args.eval_tokens, train=settings)
    mode = "resume" if args.resume else "overwrite" if args.overwrite else "new"
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

    result = run_sae(args.run, request, mode, on_event)
    s = result.summary
    if args.json:
        print(json.dumps(finite({key: s[key] for key in KEYS}), allow_nan=False))
        return 130 if result.interrupted else 0
    print(f"\n{s['features']} features on {s['point']}: L0 {s['l0']:.1f} per token, variance explained "
          f"{s['variance_explained']:.3f}")
    print(f"loss: clean {s['ce_clean']:.4f}, with the SAE {s['ce_sae']:.4f}, zero-ablated {s['ce_ablated']:.4f}: "
          f"loss recovered {100 * s['loss_recovered']:.1f}%")
    print(f"dead features {s['dead']}, dense (active on >10% of tokens) {s['dense']}")
    if result.interrupted:
        print(f"interrupted: checkpoint saved. Continue with: attnlab sae --run {args.run} --point {args.point} --resume")
        return 130
    print(f"saved {s['sae']}; browse it with: attnlab features --run {args.run}")
    return 0
