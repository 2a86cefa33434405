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
from attnlab.cli._runtime_args import add_runtime_args, use_runtime
from attnlab.config import MODEL_FIELDS, PRESETS, TrainConfig, load_toml, preset_config
from attnlab.runs.folder import check_run_name


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
    add_runtime_args(p, dtype=False)  # --device and --dtype are TrainConfig's fields
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
    from attnlab.train.run import RESUMABLE, resume_conflicts

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
    conflicts = resume_conflicts(saved, cfg)
    if conflicts:
        raise UserError(f"--resume with a conflicting config: {', '.join(conflicts)}; only "
                       f"{', '.join(RESUMABLE)} may change")
    return cfg, run_dir, preset


def run(args: argparse.Namespace) -> int:
    from attnlab.train.run import train_run

    cfg, run_dir, preset = resolve_config(args)
    kept = args.resume and "dtype" not in vars(args)  # no --dtype: the run's stored choice
    rt = use_runtime(args, device=cfg.device, dtype=cfg.dtype, training=True,
                     dtype_from="the run's" if kept else None)
    progress = Progress(print, enabled=not args.no_progress)  # the loop reports on rank 0 only

    def on_event(kind: str, info: dict) -> None:
        if kind == "run":
            _say_start(info)
        else:
            progress(kind, info)

    try:
        result = train_run(cfg, run_dir, resume=args.resume, overwrite=args.overwrite, on_event=on_event,
                           runtime=rt)
    finally:
        progress.close()
    return _report(args, result) if result.is_main else 0


def _say_start(info: dict) -> None:
    print(f"run folder: {info['run_dir']}{'  (resuming)' if info['resume'] else ''}")
    for line in info["lines"]:  # precision, threads
        print(line)
    print(f"corpus: {info['corpus']}, {info['characters']:,} characters -> {info['train_tokens']:,} train / "
          f"{info['val_tokens']:,} val tokens ({info['tokenizer']} tokenizer, vocabulary {info['vocab_size']:,})")


def _report(args: argparse.Namespace, result) -> int:
    """What a finished (or stopped) run prints: the losses, a sample, the next commands."""
    from attnlab.runs.metrics import overfitting, read_metrics

    run_dir, trained, data, say = result.run_dir, result.trained, result.data, print
    again = (f"attnlab train --out-dir {shlex.quote(args.out_dir)} --name {shlex.quote(run_dir.name)} "
             f"--resume")
    if trained.interrupted:
        say(f"interrupted at step {trained.step}: checkpoint saved in {run_dir}. Continue with:\n  {again}")
        return 130
    if trained.last_losses:
        say(f"done: step {trained.step}, train loss {trained.last_losses['train']:.4f}, "
            f"val loss {trained.last_losses['val']:.4f}, {trained.elapsed_s:.0f} s")
    fit = overfitting(read_metrics(run_dir))
    if fit:
        say(f"overfitting: val loss rose from {fit['best_val']:.4f} (step {fit['best_step']}) to {fit['last_val']:.4f} "
            f"while train loss fell: the model is memorising its corpus, and more steps make it worse; a larger "
            f"corpus, dropout or a smaller model helps")
        again = (f"attnlab train --out-dir {shlex.quote(args.out_dir)} --name {shlex.quote(run_dir.name + '-dropout')} "
                 f"--corpus {shlex.quote(result.cfg.corpus)} --dropout 0.2")
    if args.sample_tokens > 0:
        _sample(trained.model, data.tokenizer, data.train, result.cfg.seed, args.sample_tokens, say)
    _say_next(say, run_dir, data.tokenizer, data.text, again, None if fit else result.cfg.max_iters)
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


def _say_next(say, run_dir: Path, tokenizer, text: str, again: str, max_iters: int | None) -> None:
    """The run's files and the next commands; max_iters None: the run overfits, and `again` is a
    regularised run instead of a longer one."""
    files = sorted(p.name + ("/" if p.is_dir() else "") for p in run_dir.iterdir()
                   if not p.name.startswith("."))
    say(f"\nfiles: {run_dir}/ ({', '.join(files)})")
    say("next:")
    prompt = _example(tokenizer, "ROMEO:", text)
    say(f"  attnlab generate --run {shlex.quote(str(run_dir))} --prompt {prompt} --max-new-tokens 500")
    say(f"  attnlab attention {_example(tokenizer, 'To be, or not to be', text)} --run "
        f"{shlex.quote(str(run_dir))}")
    if max_iters is None:
        say(f"  {again}   # a new run with dropout, instead of training longer")
    else:
        say(f"  {again} --max-iters {max_iters * 2}   # train longer")


def _example(tokenizer, wanted: str, text: str) -> str:
    """`wanted` if the tokenizer can encode it, else the corpus's first words; shell-quoted."""
    try:
        tokenizer.encode(wanted)
        return shlex.quote(wanted)
    except ValueError:
        return shlex.quote(" ".join(text.split()[:4])[:40])
