"""`attnlab train`: train a GPT on a corpus and watch the loss fall.

    attnlab train                                  # the `cpu` preset, char-level shakespeare
    attnlab train --preset seed --max-iters 500    # seed 001's model
    attnlab train --config my.toml --name big      # TrainConfig fields from a TOML file
    attnlab train --name big --resume              # continue a stopped run exactly
    torchrun --nproc_per_node=2 -m attnlab train   # DDP: batches strided by rank

Settings are applied in this order: preset, then --config file, then flags. Every
TrainConfig field is a flag (`block_size` is `--block-size`).
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
from pathlib import Path

from attnlab.errors import UserError
from attnlab.cli._lab import add_field as _add_field
from attnlab.cli._progress import Progress
from attnlab.config import MODEL_FIELDS, PRESETS, TrainConfig, load_toml, preset_config
from attnlab.runs.folder import check_run_name

# Fields that may differ from the saved config when resuming; the rest must match.
RESUMABLE = ("max_iters", "eval_interval", "eval_iters", "log_interval", "device", "dtype", "compile")

def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="train a GPT on a corpus (no arguments: char-level shakespeare on the CPU)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default=None,
                   help="cpu (nanoGPT's CPU recipe), shakespeare (nanoGPT's GPU recipe) or seed (seed 001's "
                        "model) (default: cpu)")
    p.add_argument("--config", metavar="FILE.toml", help="TrainConfig fields (and optionally preset) from TOML")
    p.add_argument("--name", type=_plain_name,
                   help="run name, a plain folder name: the folder OUT_DIR/NAME (default: PRESET-CORPUS-TOKENIZER)")
    p.add_argument("--out-dir", default="runs", help="where run folders go (default: runs)")
    p.add_argument("--resume", action="store_true", help="continue the run in OUT_DIR/NAME from its checkpoint")
    p.add_argument("--overwrite", action="store_true",
                   help="delete the files of an existing run folder OUT_DIR/NAME first (only attnlab's own files)")
    p.add_argument("--sample-tokens", type=_non_negative, default=300,
                   help="tokens to sample at the end (default: 300)")
    p.add_argument("--threads", type=_non_negative, default=0,
                   help="CPU threads for torch (default: 0, chosen from the load at start: the CPUs other jobs "
                        "leave idle, at least 1; on a busy machine 1 thread is many times faster than 2)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (log lines only)")
    model = p.add_argument_group("model settings (GPTConfig's fields; defaults: the cpu preset)")
    training = p.add_argument_group("training settings (defaults: the cpu preset)")
    for f in dataclasses.fields(TrainConfig):
        _add_field(model if f.name in MODEL_FIELDS else training, f)
    p.set_defaults(func=run)


def _plain_name(text: str) -> str:
    try:
        return check_run_name(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _run_name(preset: str, cfg: TrainConfig) -> str:
    corpus = {"-": "stdin"}.get(cfg.corpus, Path(cfg.corpus).stem.lstrip(".") or "corpus")
    return check_run_name(f"{preset}-{corpus}-{cfg.tokenizer}")


def resolve_config(args: argparse.Namespace) -> tuple[TrainConfig, Path, str]:
    """(config, run folder, preset name) from preset, --config file and flags; on --resume the
    saved config is the base and only fields in RESUMABLE may change."""
    from attnlab.runs.checkpoint import read_run_config

    names = {f.name for f in dataclasses.fields(TrainConfig)}
    flags = {k: v for k, v in vars(args).items() if k in names}
    toml = load_toml(args.config) if args.config else {}
    preset = args.preset or toml.pop("preset", None) or "cpu"
    toml.pop("preset", None)
    if preset not in PRESETS:
        raise UserError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    cfg = preset_config(preset, **{**toml, **flags})
    run_dir = Path(args.out_dir) / (args.name or _run_name(preset, cfg))
    if args.resume and args.overwrite:
        raise UserError("--resume and --overwrite contradict each other: pick one")
    if not args.resume:
        return cfg, run_dir, preset
    if not (run_dir / "config.json").is_file():
        raise UserError(f"nothing to resume: {run_dir} is not a run folder (pass --name of an existing run)")
    _, saved, _ = read_run_config(run_dir)
    changes = {**(PRESETS[preset] if args.preset else {}), **toml, **flags}
    cfg = TrainConfig.from_dict({**saved.to_dict(), **changes})
    conflicts = [f"{k} ({getattr(saved, k)!r} -> {getattr(cfg, k)!r})" for k in sorted(names - set(RESUMABLE))
                 if getattr(cfg, k) != getattr(saved, k)]
    if conflicts:
        raise UserError(f"--resume with a conflicting config: {', '.join(conflicts)}; only "
                       f"{', '.join(RESUMABLE)} may change")
    return cfg, run_dir, preset


def run(args: argparse.Namespace) -> int:
    from attnlab.cli._cpu_use import others_busy, sample

    started = sample()  # before torch's import: what other processes run meanwhile picks the threads
    import torch

    from attnlab import distributed
    from attnlab.device import autocast, bf16_warning, describe_dtype, pick_device, pick_threads, resolve_dtype
    from attnlab.runs.folder import open_run_folder

    threads, why = pick_threads(args.threads, others=others_busy(started))
    torch.set_num_threads(threads)
    args.threads_line = f"{threads} thread{'s' if threads != 1 else ''} ({why}; --threads N overrides)"
    cfg, run_dir, preset = resolve_config(args)
    device = pick_device(cfg.device)
    autocast(device, cfg.dtype)  # an unusable dtype is an error before any work
    asked = cfg.dtype
    cfg = dataclasses.replace(cfg, dtype=resolve_dtype(device, cfg.dtype))  # config.json stores the choice
    kept = args.resume and "dtype" not in vars(args)  # no --dtype: the run's stored choice
    args.precision_line = f"{cfg.dtype} (the run's)" if kept else describe_dtype(device, asked, cfg.dtype)
    warning = bf16_warning(device, cfg.dtype)
    if warning:
        print(f"attnlab: warning: {warning}", file=sys.stderr)
    # Everything that can fail on bad input happens before the run folder is touched.
    text, tokenizer, train_data, val_data = _prepare_data(cfg, run_dir, args.resume)
    _check_memory(cfg, tokenizer.vocab_size, device)
    dist = distributed.setup(device.type)
    finished = False  # a rank that failed leaves at once: the others may never reach the barrier
    try:
        if not dist.is_main:  # rank 0 owns the folder; the others only train
            code = _train(args, cfg, run_dir, text, tokenizer, train_data, val_data, dist)
        else:
            mode = "resume" if args.resume else "overwrite" if args.overwrite else "new"
            with open_run_folder(run_dir, mode):
                code = _train(args, cfg, run_dir, text, tokenizer, train_data, val_data, dist)
        finished = True
        return code if dist.is_main else 0
    finally:
        distributed.cleanup(together=finished)


def _prepare_data(cfg: TrainConfig, run_dir: Path, resume: bool):
    """(corpus text, tokenizer, train ids, val ids): read and encoded before anything is written."""
    from attnlab.runs import checkpoint as ckpt
    from attnlab.train.data import load_corpus
    from attnlab.tokenizers import build_tokenizer, load_tokenizer
    from attnlab.train.gpt import encode_corpus

    text = load_corpus(cfg.corpus)
    if resume:
        tokenizer = load_tokenizer(run_dir / ckpt.TOKENIZER_DIR)
    else:
        tokenizer = build_tokenizer(cfg.tokenizer, text, cfg.vocab_size)
    train_data, val_data = encode_corpus(text, tokenizer, cfg)
    return text, tokenizer, train_data, val_data


def _check_memory(cfg: TrainConfig, vocab_size: int, device) -> None:
    """Refuse, with the figures, a model and batch that cannot fit (before anything is allocated)."""
    from attnlab.model.memory import gpt_memory_bytes, require_memory

    need = gpt_memory_bytes(cfg.model_config(vocab_size), batch_size=cfg.batch_size, training=True)
    require_memory(need, f"training this model (batch {cfg.batch_size} x block {cfg.block_size})", device)


def _train(args, cfg: TrainConfig, run_dir: Path, text: str, tokenizer, train_data, val_data, dist) -> int:
    from attnlab.runs import checkpoint as ckpt
    from attnlab.train.gpt import train

    say = print if dist.is_main else (lambda *a, **k: None)
    if dist.is_main and not args.resume:
        ckpt.save_run_config(run_dir, cfg.model_config(tokenizer.vocab_size), cfg, tokenizer)
    say(f"run folder: {run_dir}{'  (resuming)' if args.resume else ''}")
    say(f"precision: {args.precision_line}")
    say(f"threads: {args.threads_line}")
    say(f"corpus: {cfg.corpus}, {len(text):,} characters -> {len(train_data):,} train / {len(val_data):,} "
        f"val tokens ({tokenizer.name} tokenizer, vocabulary {tokenizer.vocab_size:,})")
    progress = Progress(say, enabled=dist.is_main and not args.no_progress)
    try:
        result = train(cfg, train_data, val_data, tokenizer, run_dir, resume=args.resume, dist=dist,
                       on_event=progress)
    finally:
        progress.close()
    if not dist.is_main:
        return 0
    again = (f"attnlab train --out-dir {shlex.quote(args.out_dir)} --name {shlex.quote(run_dir.name)} "
             f"--resume")
    if result.interrupted:
        say(f"interrupted at step {result.step}: checkpoint saved in {run_dir}. Continue with:\n  {again}")
        return 130
    if result.last_losses:
        say(f"done: step {result.step}, train loss {result.last_losses['train']:.4f}, "
            f"val loss {result.last_losses['val']:.4f}, {result.elapsed_s:.0f} s")
    if args.sample_tokens > 0:
        _sample(result.model, tokenizer, train_data, cfg.seed, args.sample_tokens, say)
    _say_next(say, run_dir, tokenizer, text, again, cfg.max_iters)
    return 0


def _sample(model, tokenizer, train_data, seed: int, n_tokens: int, say) -> None:
    import torch

    from attnlab.fast import stream_sample

    try:
        prompt = tokenizer.encode("\n")
    except ValueError:
        prompt = train_data[:1].tolist()
    say("\n--- sample " + "-" * 40)
    generator = torch.Generator(device=model.token_embedding_table.weight.device).manual_seed(seed)
    stream_sample(model, tokenizer, prompt, n_tokens, write=lambda s: (sys.stdout.write(s), sys.stdout.flush()),
                  temperature=0.8, top_k=200, generator=generator)
    say("\n" + "-" * 51)


def _say_next(say, run_dir: Path, tokenizer, text: str, again: str, max_iters: int) -> None:
    files = sorted(p.name + ("/" if p.is_dir() else "") for p in run_dir.iterdir()
                   if not p.name.startswith("."))
    say(f"\nfiles: {run_dir}/ ({', '.join(files)})")
    say("next:")
    prompt = _example(tokenizer, "ROMEO:", text)
    say(f"  attnlab generate --run {shlex.quote(str(run_dir))} --prompt {prompt} --max-new-tokens 500")
    say(f"  attnlab attention {_example(tokenizer, 'To be, or not to be', text)} --run "
        f"{shlex.quote(str(run_dir))}")
    say(f"  {again} --max-iters {max_iters * 2}   # train longer")


def _example(tokenizer, wanted: str, text: str) -> str:
    """`wanted` if the tokenizer can encode it, else the corpus's first words; shell-quoted."""
    try:
        tokenizer.encode(wanted)
        return shlex.quote(wanted)
    except ValueError:
        return shlex.quote(" ".join(text.split()[:4])[:40])
