"""`attnlab seq2seq`: train the encoder-decoder on seed 002's +2 regression or a token task.

    attnlab seq2seq --task plus2-regression          # seed 002's program, with our parts
    attnlab seq2seq --task reverse --steps 1500 --out runs/reverse --png reverse.png

Every Seq2SeqRunConfig field is a flag (`min_len` is `--min-len`); the run itself is
attnlab.labs.seq2seq.run's. This module parses and prints.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import TYPE_CHECKING, Callable

from attnlab.cli._help import HelpFormatter
from attnlab.cli._progress import Progress
from attnlab.cli._runtime_args import add_runtime_args, use_runtime
from attnlab.cli._source_args import check_writable
from attnlab.labs.seq2seq.settings import REGRESSION_TASK, TOKEN_TASKS, Seq2SeqRunConfig, flag

if TYPE_CHECKING:  # the run module imports torch: loaded in run(), when a run starts
    from attnlab.labs.seq2seq.run import Alignment, RegressionResult, TokenTaskResult

DESCRIPTION = """Train an encoder-decoder transformer (seed 002's model, built from attnlab's own
attention, blocks and sinusoidal positions) and look at its cross-attention.

plus2-regression is seed 002's program: one sequence of numbers in, the same numbers + 2 out.
The token tasks (copy, reverse, sort, plus2) map random sequences to sequences and report the
exact match on held-out sequences the model never saw, and how much of each cross-attention
head lies on the diagonal (the anti-diagonal for reverse). With --out the run is checkpointed
and --resume continues it; the flags that define the run must then match the saved ones, and
those not given are the saved run's."""


def setting_help() -> dict[str, str]:
    """Each setting's help; the defaults are read from Seq2SeqRunConfig, per task where they differ."""
    d, tokens, sort = (Seq2SeqRunConfig(task=task) for task in (REGRESSION_TASK, "copy", "sort"))

    def per_task(name: str, for_tokens: object = None) -> str:
        for_tokens = getattr(tokens, name) if for_tokens is None else for_tokens
        return f"default: {getattr(d, name)} for {REGRESSION_TASK}, {for_tokens} for the token tasks"

    return {
        "task": f"{REGRESSION_TASK} or one of {', '.join(TOKEN_TASKS)} (default: {d.task})",
        "vocab": f"token tasks: values 0..vocab-1 (default: {d.vocab})",
        "min_len": f"token tasks: shortest sequence (default: {d.min_len})",
        "max_len": f"token tasks: longest sequence (default: {d.max_len})",
        "d_model": f"model width ({per_task('d_model')})",
        "n_heads": f"attention heads ({per_task('n_heads')})",
        "n_layers": f"encoder layers and decoder layers, each (default: {d.n_layers})",
        "d_ff": f"feed-forward width ({per_task('d_ff', '2 * d_model')})",
        "norm": f"pre or post ({per_task('norm')}; post is nn.Transformer's)",
        "dropout": f"dropout probability ({per_task('dropout')}; 0.1 is nn.Transformer's)",
        "steps": f"optimizer steps (default: {d.steps} epochs for {REGRESSION_TASK}, {sort.steps} for sort, "
                 f"{tokens.steps} for the other token tasks)",
        "lr": f"Adam learning rate ({per_task('lr')})",
        "warmup": f"token tasks: linear warmup steps, then cosine decay (default: {d.warmup})",
        "batch_size": f"token tasks: sequences per step (default: {d.batch_size})",
        "seed": f"random seed of the weights and the batches, 0 <= seed < 2**32 (default: {d.seed})",
        "eval_size": f"held-out sequences for the exact-match accuracy (default: {d.eval_size})",
        "beam": f"beam width for evaluation, 1 = greedy (default: {d.beam})",
        "examples": f"example predictions to print (default: {d.examples})",
        "out": "run folder (runs/<name>): checkpoint + config.json",
        "resume": "continue the run in --out up to --steps",
        "save_every": f"checkpoint every N steps, with --out (default: {d.save_every})",
        "png": "write the cross-attention map of one held-out example here (.png, .svg or .pdf)",
        "pe_png": "also draw the sinusoidal positional-encoding table here (.png)",
        "threads": f"CPU threads for torch (0: PyTorch's own choice); tiny models run fastest on one "
                   f"(default: {d.threads})",
    }


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("seq2seq", help="train an encoder-decoder (seed 002) and look at its cross-attention",
                              description=DESCRIPTION, formatter_class=HelpFormatter)
    texts = setting_help()
    for f in dataclasses.fields(Seq2SeqRunConfig):
        # SUPPRESS: a flag not given stays out of args, so --resume can tell it from a default
        if f.type == "bool":
            p.add_argument(flag(f.name), action="store_true", default=argparse.SUPPRESS, help=texts[f.name])
        else:
            kind = {"int": int, "float": float, "str": str}[f.type.split(" | ")[0]]
            p.add_argument(flag(f.name), type=kind, default=argparse.SUPPRESS, help=texts[f.name])
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_runtime_args(p, threads=False)  # --threads is a setting of the run
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from attnlab.labs.seq2seq.run import draw_positional_encoding, prepare_run, resolve_settings, train_and_evaluate

    names = {f.name for f in dataclasses.fields(Seq2SeqRunConfig)}
    settings = resolve_settings({k: v for k, v in vars(args).items() if k in names})
    use_runtime(args, threads=settings.threads)
    check_writable(settings.png)
    check_writable(settings.pe_png)
    prepared = prepare_run(settings)  # checks every size before anything is trained or written
    if settings.pe_png:
        draw_positional_encoding(prepared)
        print(f"wrote {settings.pe_png} (positional encoding, d_model {prepared.model.d_model})")
    if prepared.resume:
        print(f"resuming {settings.out} from its checkpoint")
    task = prepared.task
    if task is not None:
        print(f"task {task.name}: values 0..{task.vocab - 1}, lengths {task.min_len}..{task.max_len}")
    progress = Progress(print, enabled=not args.no_progress)  # attnlab train's bar
    try:
        result = train_and_evaluate(prepared, progress if task is not None else epoch_log(progress, settings.steps))
    finally:
        progress.close()
    return print_token_task(result, settings) if task is not None else print_regression(result, settings)


def epoch_log(progress: Progress, epochs: int) -> Callable[[str, dict], None]:
    """The regression's events: the bar, and seed 002's log line every 50 epochs."""
    def on_event(kind: str, info: dict) -> None:
        progress(kind, info)
        if kind == "step" and (info["step"] - 1) % 50 == 0:
            progress.write(f"Epoch {info['step'] - 1:4d}/{epochs} | Loss: {info['loss']:.6f}")
    return on_event


def print_regression(result: RegressionResult, settings: Seq2SeqRunConfig) -> int:
    fmt = lambda xs: "[" + ", ".join(f"{x:.2f}" for x in xs) + "]"  # noqa: E731
    p = result.predictions
    print("\n--- after training ---")
    print(f"input:                        {fmt(p['src'])}")
    print(f"target:                       {fmt(p['target'])}")
    print(f"prediction (teacher-forced):  {fmt(p['teacher_forced'])}")
    print(f"prediction (autoregressive):  {fmt(p['autoregressive'])}")
    print("teacher-forced: the decoder is fed the true previous targets [0, 12, 22, 32, 42], as in training\n"
          "  (what seed 002 prints). autoregressive: it is fed its own previous predictions, starting from 0,\n"
          "  as it must be when the answer is unknown; each step's error becomes the next step's input, so\n"
          "  errors compound along the sequence. 500 epochs leave this model under-trained (loss still falling);\n"
          "  try --steps 3000 to see the two predictions part ways.")
    print_alignment(REGRESSION_TASK, result.alignment, settings.png)
    if settings.out:
        print(f"saved {settings.out}")
    return 0


def print_token_task(result: TokenTaskResult, settings: Seq2SeqRunConfig) -> int:
    if result.interrupted:
        print(f"interrupted at step {result.step}" + (f": checkpoint saved in {settings.out}; continue with "
                                                      f"--resume" if settings.out else " (nothing saved: no --out)"))
        return 130
    decoding = "greedy" if settings.beam == 1 else f"beam {settings.beam}"
    print(f"held-out exact match ({settings.eval_size} sequences never seen in training, {decoding}): "
          f"{result.accuracy:.2%}")
    for src, got, want in result.examples:
        print(f"  {src} -> {got} {'ok' if got == want else f'(expected {want})'}")
    print_alignment(settings.task, result.alignment, settings.png)
    return 0


def print_alignment(name: str, alignment: Alignment, png: str | None) -> None:
    if alignment.anti is None:
        print(f"cross-attention: {name} has no fixed source position per step (no diagonal to measure)")
    else:
        print(f"cross-attention {'anti-diagonal' if alignment.anti else 'diagonal'} mass (1.0 = step i reads "
              f"exactly its aligned source token; uniform would be about {alignment.uniform:.2f}):")
        for module, mass in alignment.mass.items():
            print(f"  {module}: " + "  ".join(f"head {h} {m:.2f}" for h, m in enumerate(mass)))
    if png:
        print(f"wrote {png}")
