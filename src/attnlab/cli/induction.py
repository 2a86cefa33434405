"""`attnlab induction`: train attention-only models of 1 and 2 layers, watch an induction head
form in the 2-layer one, and ablate it to show that it does the in-context work.

    attnlab induction                          # both models, the defaults (a few minutes on a CPU)
    attnlab induction --layers 2 --steps 500   # only the 2-layer model, shorter
    attnlab induction --json                   # the numbers only, as one JSON object

Writes OUT_DIR/report.md, OUT_DIR/summary.json and, per model, OUT_DIR/layers-L/metrics.jsonl and
induction.png (see attnlab.labs.induction.lab).
"""

from __future__ import annotations

import argparse
import json
import time

from attnlab.errors import UserError
from attnlab.labs.induction.config import LabConfig


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    d = LabConfig()
    p = subparsers.add_parser(
        "induction", help="train 1- and 2-layer attention-only models and watch an induction head form",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--layers", default=",".join(map(str, d.layers)),
                   help=f"comma-separated layer counts, one model each (default: {','.join(map(str, d.layers))})")
    p.add_argument("--steps", type=int, default=d.steps, help=f"training steps per model (default: {d.steps})")
    p.add_argument("--eval-interval", type=int, default=d.eval_interval,
                   help=f"score the heads every N steps (default: {d.eval_interval})")
    p.add_argument("--seed", type=int, default=d.seed, help=f"weights, data and random heads (default: {d.seed})")
    p.add_argument("--out-dir", default="runs/induction", help="where the report goes (default: runs/induction)")
    p.add_argument("--json", action="store_true", help="print only the summary as JSON")
    p.add_argument("--threads", type=int, default=1,
                   help="CPU threads for torch (0: PyTorch's own choice); models this small run fastest on "
                        "one (default: 1)")
    p.set_defaults(func=run)


def parse_layers(text: str) -> tuple[int, ...]:
    try:
        layers = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise UserError(f"--layers must be comma-separated layer counts such as 1,2, got {text!r}") from None
    if any(n < 1 for n in layers):
        raise UserError(f"--layers must be positive, got {text!r}")
    return layers


def run(args: argparse.Namespace) -> int:
    import torch  # torch, matplotlib and the lab load here, not at `attnlab --help`

    from attnlab.labs.induction.lab import run_lab
    from attnlab.labs.induction.report import report_paragraphs

    if args.steps < 1 or args.eval_interval < 1:
        raise UserError("--steps and --eval-interval must be >= 1")
    if args.threads < 0:
        raise UserError(f"--threads must be >= 0, got {args.threads}")
    cfg = LabConfig(layers=parse_layers(args.layers), steps=args.steps, eval_interval=args.eval_interval,
                    seed=args.seed)
    check_lab_memory(cfg)
    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    results = run_lab(cfg, args.out_dir, on_event=None if args.json else print_progress)
    if args.json:
        print(json.dumps({"models": [r.summary() for r in results]}))
        return 0
    print()
    for paragraph in report_paragraphs(results, cfg):
        print(paragraph + "\n")
    print(f"wall time {time.perf_counter() - started:.0f} s; wrote {args.out_dir}/report.md, summary.json and "
          + ", ".join(f"layers-{r.layers}/induction.png" for r in results))
    return 0


def check_lab_memory(cfg: LabConfig) -> None:
    """The deepest model, trained and then probed, must fit before the first one is built."""
    from attnlab.model.memory import gpt_look_bytes, gpt_memory_bytes, require_memory

    config = cfg.train_config(max(cfg.layers)).model_config(cfg.vocab_size)
    need = max(gpt_memory_bytes(config, cfg.batch_size, training=True),
               gpt_look_bytes(config, cfg.eval_batch, 2 * cfg.n))
    require_memory(need, f"the {config.n_layers}-layer model of --layers", hint="pass fewer layers")


def print_progress(kind: str, info: dict) -> None:
    if kind == "start":
        print(f"{info['layers']}-layer model: {info['parameters']:,} parameters, {info['max_iters']} steps")
    elif kind == "eval":
        il, ih, iscore = info["induction"]
        pl, ph, pscore = info["previous"]
        print(f"  step {info['step']:>5}  loss ratio {info['loss_ratio']:.2f}  best induction {il}.{ih} "
              f"{iscore:.2f}  best previous {pl}.{ph} {pscore:.2f}", flush=True)
