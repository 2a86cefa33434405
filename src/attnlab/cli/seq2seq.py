"""`attnlab seq2seq`: train the encoder-decoder on seed 002's +2 regression or a token task.

    attnlab seq2seq --task plus2-regression          # seed 002's program, with our parts
    attnlab seq2seq --task reverse --steps 1500 --out runs/reverse --png reverse.png
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path
from typing import Callable

import torch

from attnlab.runs import checkpoint as ckpt
from attnlab.errors import UserError
from attnlab.cli._help import HelpFormatter
from attnlab.cli._progress import Progress
from attnlab.cli._source_args import check_writable
from attnlab.config import Seq2SeqConfig
from attnlab.model.memory import require_memory, seq2seq_memory_bytes
from attnlab.model.embeddings import sinusoidal_table
from attnlab.model.seq2seq import EncoderDecoder
from attnlab.runs.folder import open_run_folder
from attnlab.labs.seq2seq.tasks import (REGRESSION_TASK, TOKEN_TASKS, Seq2SeqBatch, TokenTask, cross_attention_alignment,
                                   exact_match, plus2_regression_data)
from attnlab.labs.seq2seq.train import (add_to_state, read_run_config, save_run_config, train_plus2_regression,
                                   train_seq2seq)

EVAL_SEED = 1234  # the held-out evaluation set does not depend on --seed


DESCRIPTION = """Train an encoder-decoder transformer (seed 002's model, built from attnlab's own
attention, blocks and sinusoidal positions) and look at its cross-attention.

plus2-regression is seed 002's program: one sequence of numbers in, the same numbers + 2 out.
The token tasks (copy, reverse, sort, plus2) map random sequences to sequences and report the
exact match on held-out sequences the model never saw, and how much of each cross-attention
head lies on the diagonal (the anti-diagonal for reverse). With --out the run is checkpointed
and --resume continues it; the flags that define the run must then match the saved ones."""

# Settings that define a run: on --resume they come from its config.json, and a flag given
# with another value is refused. Every other flag (--steps, --eval-size, --beam, --png, ...)
# may change. Their defaults depend on the task, so the flags default to None (see `defaults`).
RUN_SETTINGS = ("task", "vocab", "min_len", "max_len", "d_model", "n_heads", "n_layers", "d_ff", "norm",
                "dropout", "lr", "warmup", "batch_size", "seed")
MAX_SEED = 2**32  # batches are drawn with seed * 1_000_003 + step, which must fit in 64 bits
PE_ROWS = 100  # positions drawn by --pe-png


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("seq2seq", help="train an encoder-decoder (seed 002) and look at its cross-attention",
                              description=DESCRIPTION, formatter_class=HelpFormatter)
    p.add_argument("--task", default=None,
                   help=f"{REGRESSION_TASK} (the default) or one of {', '.join(TOKEN_TASKS)}")
    p.add_argument("--vocab", type=int, default=None, help="token tasks: values 0..vocab-1 (default: 10)")
    p.add_argument("--min-len", type=int, default=None, help="token tasks: shortest sequence (default: 1)")
    p.add_argument("--max-len", type=int, default=None, help="token tasks: longest sequence (default: 10)")
    p.add_argument("--d-model", type=int, default=None, help="model width; default: 16 (regression), 64 (token tasks)")
    p.add_argument("--n-heads", type=int, default=None, help="attention heads; default: 2 (regression), 4")
    p.add_argument("--n-layers", type=int, default=None, help="encoder layers and decoder layers, each (default: 2)")
    p.add_argument("--d-ff", type=int, default=None, help="feed-forward width; default: 32 (regression), 2 * d_model")
    p.add_argument("--norm", default=None, help="pre or post; default: post (regression, as nn.Transformer), pre")
    p.add_argument("--dropout", type=float, default=None, help="default: 0.1 (regression, nn.Transformer's), 0")
    p.add_argument("--steps", type=int, default=None,
                   help="optimizer steps; default: 500 epochs (regression), 800 (sort: 2000)")
    p.add_argument("--lr", type=float, default=None, help="Adam learning rate; default: 1e-3 (regression), 2e-3")
    p.add_argument("--warmup", type=int, default=None,
                   help="token tasks: linear warmup steps, then cosine decay (default: 100)")
    p.add_argument("--batch-size", type=int, default=None, help="token tasks: sequences per step (default: 128)")
    p.add_argument("--seed", type=int, default=None,
                   help="random seed of the weights and the batches, 0 <= seed < 2**32 (default: 0)")
    p.add_argument("--eval-size", type=int, default=1000, help="held-out sequences for the exact-match accuracy")
    p.add_argument("--beam", type=int, default=1, help="beam width for evaluation (1 = greedy)")
    p.add_argument("--examples", type=int, default=5, help="example predictions to print")
    p.add_argument("--out", default=None, help="run folder (runs/<name>): checkpoint + config.json")
    p.add_argument("--resume", action="store_true", help="continue the run in --out up to --steps")
    p.add_argument("--save-every", type=int, default=500, help="checkpoint every N steps (with --out)")
    p.add_argument("--png", default=None,
                   help="write the cross-attention map of one held-out example here (.png, .svg or .pdf)")
    p.add_argument("--pe-png", default=None, help="also draw the sinusoidal positional-encoding table here (.png)")
    p.add_argument("--threads", type=int, default=1,
                   help="CPU threads for torch (0 = PyTorch's default); tiny models run fastest on one")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    check_flags(args)
    saved = None
    committed = bool(args.out) and (Path(args.out) / ckpt.STATE).exists()  # a run with a checkpoint
    if args.out and (Path(args.out) / ckpt.CONFIG).exists():
        saved = read_run_config(args.out)  # refuses another kind of checkpoint
        if committed and not args.resume:
            raise UserError(f"{args.out} already holds a run; pass --resume to continue it, or another --out")
    if args.resume and not args.out:
        raise UserError("--resume needs --out (the run folder to continue)")
    vars(args).update(resolve_settings(args, saved if args.resume else None))
    regression = args.task == REGRESSION_TASK
    if regression and args.resume:
        raise UserError(f"--resume is for the token tasks; {REGRESSION_TASK} trains in seconds")
    task = None if regression else TokenTask(args.task, vocab=args.vocab, min_len=args.min_len, max_len=args.max_len)
    config = model_config(args, task)  # checks every size before anything is trained or written
    check_memory(args, task, config)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.pe_png:
        from attnlab.viz.positional import save_positional_encoding_png  # matplotlib, only when asked

        save_positional_encoding_png(sinusoidal_table(PE_ROWS, config.d_model), args.pe_png)
        print(f"wrote {args.pe_png} (positional encoding, d_model {config.d_model})")
    if not args.out:
        return run_regression(args, config) if regression else run_token_task(args, task, config)
    # --out is a run folder like attnlab train's: attnlab's marker, one writer at a time, and a
    # start that fails before its first checkpoint takes back what it wrote
    with open_run_folder(Path(args.out), "resume" if args.resume and committed else "new"):
        return run_regression(args, config) if regression else run_token_task(args, task, config)


def check_flags(args: argparse.Namespace) -> None:
    """Ranges and output paths, before anything is computed or written."""
    if args.task is not None and args.task != REGRESSION_TASK and args.task not in TOKEN_TASKS:
        raise UserError(f"unknown task {args.task!r}; choose {REGRESSION_TASK}, {', '.join(TOKEN_TASKS)}")
    if args.lr is not None and not (math.isfinite(args.lr) and args.lr > 0):
        raise UserError(f"--lr must be a finite number > 0, got {args.lr}")
    for name in ("steps", "batch_size", "eval_size", "beam", "save_every", "n_layers"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise UserError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    for name, value in (("warmup", args.warmup), ("examples", args.examples), ("threads", args.threads)):
        if value is not None and value < 0:
            raise UserError(f"--{name} must be >= 0, got {value}")
    if args.threads > (os.cpu_count() or 1) * 8:
        raise UserError(f"--threads {args.threads} is far more than this machine's {os.cpu_count()} CPUs")
    if args.seed is not None and not 0 <= args.seed < MAX_SEED:
        raise UserError(f"--seed must be in [0, 2**32), got {args.seed}")
    images = (("--png", args.png, ".png, .svg or .pdf"), ("--pe-png", args.pe_png, ".png"))  # what each can draw
    for flag, path, formats in images:
        if path is not None and Path(path).suffix.lower() not in formats.replace(" or", ",").split(", "):
            raise UserError(f"{flag} {path}: the file name must end in {formats}")
        check_writable(path)


def defaults(task: str, d_model: int | None) -> dict:
    """Every run setting's default: seed 002's for the regression, a wider pre-LN model for tokens."""
    common = dict(vocab=10, min_len=1, max_len=10, n_layers=2, warmup=100, batch_size=128, seed=0)
    if task == REGRESSION_TASK:
        return dict(common, d_model=16, n_heads=2, d_ff=32, norm="post", dropout=0.1, lr=1e-3)
    return dict(common, d_model=64, n_heads=4, d_ff=2 * (d_model or 64), norm="pre", dropout=0.0, lr=2e-3)


def saved_settings(saved: dict, out: str) -> dict:
    """The run settings recorded in a token-task run's config.json."""
    model, task, train = (saved.get(k) for k in ("model", "task", "train"))
    if not all(isinstance(d, dict) for d in (model, task, train)):
        raise UserError(f"{Path(out) / ckpt.CONFIG} is not a seq2seq run config (model, task, train)")
    if task.get("name") == REGRESSION_TASK:
        return {"task": REGRESSION_TASK}
    try:
        return dict(task=task["name"], vocab=task["vocab"], min_len=task["min_len"], max_len=task["max_len"],
                    d_model=model["d_model"], n_heads=model["n_heads"], n_layers=model["n_encoder_layers"],
                    d_ff=model["d_ff"], norm=model["norm"], dropout=model["dropout"], lr=train["lr"],
                    warmup=train["warmup"], batch_size=train["batch_size"], seed=train["seed"],
                    steps=train["steps"])
    except KeyError as exc:
        raise UserError(f"{Path(out) / ckpt.CONFIG} lacks the setting {exc}") from None


def resolve_settings(args: argparse.Namespace, saved: dict | None) -> dict:
    """The run settings: the flags given, over the saved run's (when resuming) or the defaults.
    Resuming with a flag that contradicts the saved run is refused, naming every such flag."""
    given = {k: getattr(args, k) for k in (*RUN_SETTINGS, "steps") if getattr(args, k) is not None}
    if saved is None:
        task = given.get("task", REGRESSION_TASK)
        return {**defaults(task, given.get("d_model")), "task": task, **given}
    old = saved_settings(saved, args.out)
    conflicts = [f"--{k.replace('_', '-')} ({old[k]!r} -> {v!r})" for k, v in given.items()
                 if k != "steps" and k in old and old[k] != v]
    if conflicts:
        raise UserError(f"--resume with flags that differ from the saved run: {', '.join(conflicts)}; only "
                       f"--steps, --eval-size, --beam, --examples, --save-every, --png, --pe-png, --threads "
                       f"may change")
    return {**old, **given}


def check_memory(args: argparse.Namespace, task: TokenTask | None, config: Seq2SeqConfig) -> None:
    """Training (weights, Adam, a batch) and evaluation (eval_size × beam hypotheses, and the
    sequences drawn to find eval_size held-out ones) must fit, before anything is allocated."""
    L = 5 if task is None else task.max_len  # seed 002's sequence has 5 values
    need = seq2seq_memory_bytes(config, 1 if task is None else args.batch_size, L, L + 1, training=True)
    if task is not None:
        drawn = 2 * args.eval_size * task.held_out_every * (task.max_len + 3) * 8  # int64 values, lengths, hashes
        need = max(need, seq2seq_memory_bytes(config, args.eval_size, L, L + 1, beam=args.beam) + drawn)
    need += config.d_model * PE_ROWS * 4 if args.pe_png else 0
    require_memory(need, f"this seq2seq run ({args.n_layers}+{args.n_layers} layers, d_model {config.d_model}, "
                         f"d_ff {config.d_ff}, batch {args.batch_size}, eval {args.eval_size}, beam {args.beam})",
                   hint="make them smaller")


def model_config(args: argparse.Namespace, task: TokenTask | None) -> Seq2SeqConfig:
    """The model of the resolved settings: seed 002's for the regression (task None), a wider
    pre-LN one for token tasks."""
    return Seq2SeqConfig(
        src_vocab_size=0 if task is None else task.src_vocab_size,
        tgt_vocab_size=0 if task is None else task.tgt_vocab_size,
        max_seq_len=5000 if task is None else task.max_len + 1,
        d_model=args.d_model, n_heads=args.n_heads,
        n_encoder_layers=args.n_layers, n_decoder_layers=args.n_layers,
        d_ff=args.d_ff, norm=args.norm, dropout=args.dropout,
    )


def run_regression(args: argparse.Namespace, config: Seq2SeqConfig) -> int:
    torch.manual_seed(args.seed)
    epochs, lr = args.steps or 500, args.lr or 1e-3
    if args.out:
        save_run_config(args.out, config, {"name": REGRESSION_TASK}, {"epochs": epochs, "lr": lr, "seed": args.seed})
    progress = Progress(print, enabled=not args.no_progress)  # attnlab train's bar

    def on_event(kind: str, info: dict) -> None:
        progress(kind, info)
        if kind == "step" and (info["step"] - 1) % 50 == 0:  # the seed's log line, every 50 epochs
            progress.write(f"Epoch {info['step'] - 1:4d}/{epochs} | Loss: {info['loss']:.6f}")

    try:
        model, result = train_plus2_regression(epochs, lr, config, args.out, on_event)
    finally:
        progress.close()
    fmt = lambda xs: "[" + ", ".join(f"{x:.2f}" for x in xs) + "]"  # noqa: E731
    print("\n--- after training ---")
    print(f"input:                        {fmt(result['src'])}")
    print(f"target:                       {fmt(result['target'])}")
    print(f"prediction (teacher-forced):  {fmt(result['teacher_forced'])}")
    print(f"prediction (autoregressive):  {fmt(result['autoregressive'])}")
    print("teacher-forced: the decoder is fed the true previous targets [0, 12, 22, 32, 42], as in training\n"
          "  (what seed 002 prints). autoregressive: it is fed its own previous predictions, starting from 0,\n"
          "  as it must be when the answer is unknown; each step's error becomes the next step's input, so\n"
          "  errors compound along the sequence. 500 epochs leave this model under-trained (loss still falling);\n"
          "  try --steps 3000 to see the two predictions part ways.")
    src, tgt, target = plus2_regression_data()
    batch = Seq2SeqBatch(src, None, tgt, None, target, torch.tensor([src.shape[1]]))
    tgt_labels = ["0"] + [f"{v:g}" for v in result["target"][:-1]]  # the decoder's input, shifted right
    labels = lambda b, L: ([f"{v:g}" for v in result["src"]], tgt_labels)  # noqa: E731
    report_cross_attention(model, REGRESSION_TASK, batch, False, labels, args.png)
    if args.out:
        add_to_state(args.out, result=result)
        print(f"saved {args.out}")
    return 0


def run_token_task(args: argparse.Namespace, task: TokenTask, config: Seq2SeqConfig) -> int:
    task_dict = {"name": task.name, "vocab": task.vocab, "min_len": task.min_len, "max_len": task.max_len}
    steps = args.steps or (2000 if task.name == "sort" else 800)
    lr = args.lr or 2e-3
    resume = args.resume and (Path(args.out) / ckpt.STATE).exists()
    if resume:
        saved = read_run_config(args.out)
        if saved.get("task") != task_dict:
            raise UserError(f"{args.out} was trained on {saved.get('task')}, not {task_dict}")
        config = Seq2SeqConfig.from_dict(saved["model"])
        print(f"resuming {args.out} from its checkpoint")
    elif args.out:
        save_run_config(args.out, config, task_dict, {"steps": steps, "lr": lr, "warmup": args.warmup,
                                                      "batch_size": args.batch_size, "seed": args.seed})
    torch.manual_seed(args.seed)
    model = EncoderDecoder(config)
    print(f"task {task.name}: values 0..{task.vocab - 1}, lengths {task.min_len}..{task.max_len}")

    def get_batch(step: int):
        g = torch.Generator().manual_seed(args.seed * 1_000_003 + step)  # batch = f(seed, step): resumable
        return task.sample(args.batch_size, g, held_out=False)

    progress = Progress(print, enabled=not args.no_progress)  # attnlab train's bar
    try:
        _, step, interrupted = train_seq2seq(model, get_batch, steps, lr, warmup=args.warmup, run_dir=args.out,
                                             resume=resume, save_every=args.save_every, on_event=progress)
    finally:
        progress.close()
    if interrupted:
        print(f"interrupted at step {step}" + (f": checkpoint saved in {args.out}; continue with --resume"
                                               if args.out else " (nothing saved: no --out)"))
        return 130

    held_out = task.sample(args.eval_size, torch.Generator().manual_seed(EVAL_SEED), held_out=True)
    acc, pred = exact_match(model, held_out, beam_width=args.beam)
    print(f"held-out exact match ({args.eval_size} sequences never seen in training, "
          f"{'greedy' if args.beam == 1 else f'beam {args.beam}'}): {acc:.2%}")
    for b in range(min(args.examples, args.eval_size)):
        L = int(held_out.lengths[b])
        src = task.decode_values(held_out.src[b, :L].tolist())
        want = task.decode_values(held_out.labels[b].clamp(min=0).tolist())
        got = task.decode_values(pred[b].tolist())
        print(f"  {src} -> {got} {'ok' if got == want else f'(expected {want})'}")
    if args.out:
        add_to_state(args.out, held_out_exact_match=acc)

    def labels(b: int, L: int) -> tuple[list[str], list[str]]:
        src = [str(v) for v in task.decode_values(held_out.src[b, :L].tolist())]
        return src, ["BOS"] + [str(v) for v in task.decode_values(held_out.tgt_in[b, 1:L + 1].tolist())]

    anti = {"sort": None, "reverse": True}.get(task.name, False)
    report_cross_attention(model, task.name, held_out, anti, labels, args.png)
    return 0


def report_cross_attention(model: EncoderDecoder, name: str, batch: Seq2SeqBatch, anti: bool | None,
                           labels: Callable[[int, int], tuple[list[str], list[str]]], png: str | None) -> None:
    """Print each cross-attention head's diagonal mass (anti-diagonal if `anti`; nothing if None)
    over up to 200 teacher-forced examples; draw the longest one's map. labels(b, L) -> axis labels."""
    found = cross_attention_alignment(model, batch, anti)
    if anti is None:
        print(f"cross-attention: {name} has no fixed source position per step (no diagonal to measure)")
    else:
        print(f"cross-attention {'anti-diagonal' if anti else 'diagonal'} mass (1.0 = step i reads exactly its "
              f"aligned source token; uniform would be about {found.uniform:.2f}):")
        for module, mass in found.mass.items():
            print(f"  {module}: " + "  ".join(f"head {h} {m:.2f}" for h, m in enumerate(mass.tolist())))
    if png:
        b = found.longest
        L = int(batch.lengths[b])
        src_labels, tgt_labels = labels(b, L)
        maps = {module: w[b, :, :len(tgt_labels), :L] for module, w in found.weights.items()}  # (H, T, S)
        from attnlab.viz.png import plot_grid  # matplotlib, loaded only when a picture is asked for

        plot_grid(maps, tgt_labels, src_labels, title=f"{name}: cross-attention (rows: decoder input, "
                  f"columns: source)", path=png)
        print(f"wrote {png}")
