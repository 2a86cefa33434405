"""`attnlab seq2seq`: train the encoder-decoder on seed 002's +2 regression or a token task.

    attnlab seq2seq --task plus2-regression          # seed 002's program, with our parts
    attnlab seq2seq --task reverse --steps 1500 --out runs/reverse --png reverse.png
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable

import torch

from attnlab import checkpoint as ckpt
from attnlab.cli import CLIError
from attnlab.cli._progress import Progress
from attnlab.config import Seq2SeqConfig
from attnlab.model.embeddings import sinusoidal_table
from attnlab.model.seq2seq import EncoderDecoder
from attnlab.seq2seq_tasks import (REGRESSION_TASK, TOKEN_TASKS, Seq2SeqBatch, TokenTask, cross_attention_alignment,
                                   exact_match, plus2_regression_data)
from attnlab.seq2seq_train import (add_to_state, read_run_config, save_run_config, train_plus2_regression,
                                   train_seq2seq)

EVAL_SEED = 1234  # the held-out evaluation set does not depend on --seed


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("seq2seq", help="train an encoder-decoder (seed 002) and look at its cross-attention",
                              formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--task", default=REGRESSION_TASK, help=f"{REGRESSION_TASK} or one of {', '.join(TOKEN_TASKS)}")
    p.add_argument("--vocab", type=int, default=10, help="token tasks: values 0..vocab-1")
    p.add_argument("--min-len", type=int, default=1, help="token tasks: shortest sequence")
    p.add_argument("--max-len", type=int, default=10, help="token tasks: longest sequence")
    p.add_argument("--d-model", type=int, default=None, help="default: 16 (regression), 64 (token tasks)")
    p.add_argument("--n-heads", type=int, default=None, help="default: 2 (regression), 4")
    p.add_argument("--n-layers", type=int, default=2, help="encoder layers and decoder layers (each)")
    p.add_argument("--d-ff", type=int, default=None, help="default: 32 (regression), 2 * d_model")
    p.add_argument("--norm", default=None, help="pre or post; default: post (regression, as nn.Transformer), pre")
    p.add_argument("--dropout", type=float, default=None, help="default: 0.1 (regression, nn.Transformer's), 0")
    p.add_argument("--steps", type=int, default=None,
                   help="optimizer steps; default: 500 epochs (regression), 800 (sort: 2000)")
    p.add_argument("--lr", type=float, default=None, help="Adam learning rate; default: 1e-3 (regression), 2e-3")
    p.add_argument("--warmup", type=int, default=100, help="token tasks: linear warmup steps, then cosine decay")
    p.add_argument("--batch-size", type=int, default=128, help="token tasks: sequences per step")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-size", type=int, default=1000, help="held-out sequences for the exact-match accuracy")
    p.add_argument("--beam", type=int, default=1, help="beam width for evaluation (1 = greedy)")
    p.add_argument("--examples", type=int, default=5, help="example predictions to print")
    p.add_argument("--out", default=None, help="run folder (runs/<name>): checkpoint + config.json")
    p.add_argument("--resume", action="store_true", help="continue the run in --out up to --steps")
    p.add_argument("--save-every", type=int, default=500, help="checkpoint every N steps (with --out)")
    p.add_argument("--png", default=None, help="write the cross-attention map of one held-out example here")
    p.add_argument("--pe-png", default=None, help="also draw the sinusoidal positional-encoding table here")
    p.add_argument("--threads", type=int, default=1,
                   help="CPU threads for torch (0 = PyTorch's default); tiny models run fastest on one")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.task != REGRESSION_TASK and args.task not in TOKEN_TASKS:
        raise CLIError(f"unknown task {args.task!r}; choose {REGRESSION_TASK}, {', '.join(TOKEN_TASKS)}")
    if args.lr is not None and not args.lr > 0:
        raise CLIError(f"--lr must be > 0, got {args.lr}")
    for name in ("steps", "batch_size", "eval_size", "beam", "save_every"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise CLIError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    if args.threads < 0:
        raise CLIError(f"--threads must be >= 0, got {args.threads}")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.resume and not args.out:
        raise CLIError("--resume needs --out (the run folder to continue)")
    if args.out and (Path(args.out) / ckpt.CONFIG).exists():
        read_run_config(args.out)  # refuses another kind of checkpoint
        if not args.resume:
            raise CLIError(f"{args.out} already holds a run; pass --resume to continue it, or another --out")
    regression = args.task == REGRESSION_TASK
    if regression and args.resume:
        raise CLIError(f"--resume is for the token tasks; {REGRESSION_TASK} trains in seconds")
    task = None if regression else TokenTask(args.task, vocab=args.vocab, min_len=args.min_len, max_len=args.max_len)
    config = model_config(args, task)  # checks every size before anything is trained or written
    if args.pe_png:
        from attnlab.viz.positional import save_positional_encoding_png  # matplotlib, only when asked

        save_positional_encoding_png(sinusoidal_table(100, config.d_model), args.pe_png)
        print(f"wrote {args.pe_png} (positional encoding, d_model {config.d_model})")
    return run_regression(args, config) if regression else run_token_task(args, task, config)


def model_config(args: argparse.Namespace, task: TokenTask | None) -> Seq2SeqConfig:
    """Seed 002's model for the regression (task None), a wider pre-LN one for token tasks;
    every flag given overrides."""
    def pick(value, regression_default, token_default):
        if value is not None:
            return value
        return regression_default if task is None else token_default

    d_model = pick(args.d_model, 16, 64)
    return Seq2SeqConfig(
        src_vocab_size=0 if task is None else task.src_vocab_size,
        tgt_vocab_size=0 if task is None else task.tgt_vocab_size,
        max_seq_len=5000 if task is None else task.max_len + 1,
        d_model=d_model, n_heads=pick(args.n_heads, 2, 4),
        n_encoder_layers=args.n_layers, n_decoder_layers=args.n_layers,
        d_ff=pick(args.d_ff, 32, 2 * d_model), norm=pick(args.norm, "post", "pre"),
        dropout=pick(args.dropout, 0.1, 0.0),
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
    resume = args.resume and (Path(args.out) / ckpt.CONFIG).exists()
    if resume:
        saved = read_run_config(args.out)
        if saved.get("task") != task_dict:
            raise CLIError(f"{args.out} was trained on {saved.get('task')}, not {task_dict}")
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
