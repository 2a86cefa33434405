"""`attnlab ladder`: what each part of the transformer buys, as one command.

    attnlab ladder                                   # the lecture's six rungs on shakespeare (CPU)
    attnlab ladder --corpus korean-law               # the same ladder on another corpus
    attnlab ladder --steps 500 --out-dir runs/quick  # a quick look
    attnlab ladder --scaled --device cuda            # + the lecture's last model (minutes on a GPU)
    attnlab ladder --json                            # {"rungs": [{"name", "params", "val_loss", ...}]}

Every rung is trained with the same data, seed, batches, steps and learning rate; each is an
ordinary run folder under the ladder folder. Running the same command again reuses the rungs
that finished and continues one stopped by Ctrl-C. The rungs, the lecture's settings and the
folder layout are described in `attnlab.labs.ladder.rungs`.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from attnlab.cli._runtime_args import add_runtime_args, use_runtime

JSON_KEYS = ("name", "params", "val_loss", "seconds", "run")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "ladder", help="train the lecture's ablation ladder (bigram -> GPT) and compare the validation losses",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", default="shakespeare",
                   help="built-in corpus (see `attnlab corpora`), a text file or a folder of .txt files "
                        "(default: shakespeare)")
    p.add_argument("--steps", type=int, default=5000, help="training steps per rung (default: 5000, the lecture's)")
    p.add_argument("--out-dir", default=None, help="the ladder folder (default: runs/ladder-CORPUS)")
    p.add_argument("--scaled", action="store_true",
                   help="add the lecture's last rung: 6 layers, 6 heads, 384 wide, block 256 (needs a GPU)")
    p.add_argument("--eval-iters", type=int, default=200, help="batches per validation estimate (default: 200)")
    p.add_argument("--seed", type=int, default=1337, help="random seed of every rung (default: 1337)")
    add_runtime_args(p, device=True)
    p.add_argument("--json", action="store_true", help="print the results as JSON (and nothing else) on stdout")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from attnlab.labs.ladder.report import table_rows, text_table
    from attnlab.labs.ladder.rungs import run_ladder

    runtime = use_runtime(args, training=True)  # every rung's device, dtype and threads
    corpus_name = {"-": "stdin"}.get(args.corpus, Path(args.corpus).stem or "corpus")
    out_dir = Path(args.out_dir or f"runs/ladder-{corpus_name}")
    out = sys.stderr if args.json else sys.stdout  # --json: stdout holds the JSON alone

    def say(line: str) -> None:
        print(line, file=out)

    progress = LadderProgress(say, out, enabled=not args.no_progress)
    try:
        result = run_ladder(args.corpus, out_dir, steps=args.steps, scaled=args.scaled, on_event=progress,
                            eval_iters=args.eval_iters, seed=args.seed, device=args.device,
                            runtime=runtime)
    finally:
        progress.close()
    records = result["rungs"]
    if args.json:
        print(json.dumps({"rungs": [{key: r[key] for key in JSON_KEYS} for r in records]}))
    else:
        say(text_table(table_rows(records)))
        say(f"\nfiles: {out_dir}/ (ladder.md, ladder.png, ladder.json, a run folder per rung)")
    if result["interrupted"]:
        say(f"interrupted in rung {len(records)} ({records[-1]['name']}): run the same command again to continue")
        return 130
    if not args.json:
        say("next:")
        say(f"  attnlab generate --run {shlex.quote(records[-1]['run'])} --max-new-tokens 300")
        if len(records) > 1:
            say(f"  attnlab attention TEXT --run {shlex.quote(records[1]['run'])}   # the single head's map")
    return 0


class LadderProgress:
    """One tqdm bar across the whole ladder ("rung 3/6 multi-head", steps of every rung) and a
    line per finished rung, from run_ladder's events (and the training events inside them)."""

    def __init__(self, say, out, enabled: bool):
        self.say, self.out, self.enabled, self.bar = say, out, enabled, None
        self.offset, self.previous = 0, None  # steps of the rungs already done; the last val loss

    def __call__(self, kind: str, info: dict) -> None:
        if kind == "ladder" and self.enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=info["total_steps"], unit="step", dynamic_ncols=True, file=sys.stderr)
        elif kind == "rung" and self.bar is not None:
            self.bar.set_description(f"rung {info['index']}/{info['of']} {info['name']}")
        elif kind in ("start", "step") and self.bar is not None:
            self.bar.update(self.offset + info["step"] - self.bar.n)
            if "loss" in info:
                self.bar.set_postfix_str(f"loss {info['loss']:.3f}", refresh=False)
        elif kind == "rung_done":
            self._done(info)

    def _done(self, info: dict) -> None:
        self.offset += info["max_iters"]
        if self.bar is not None:
            self.bar.update(self.offset - self.bar.n)
        record = info["record"]
        loss = record["val_loss"]
        if loss is None:
            return
        delta = "" if self.previous is None else f" ({loss - self.previous:+.3f})"
        line = (f"rung {info['index']}/{info['of']} {record['name']}: val loss {loss:.3f}{delta}, "
                f"{record['seconds']:.0f} s{' (reused)' if info['reused'] else ''}")
        self.bar.write(line, file=self.out) if self.bar is not None else self.say(line)
        self.previous = loss

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
