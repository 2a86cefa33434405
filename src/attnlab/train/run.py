"""A run is a library call: `train_run` trains a run folder from a TrainConfig, and `load_model`
opens what it made, as every command does.

    import attnlab
    cfg = attnlab.preset_config("cpu", max_iters=200)   # a TrainConfig
    result = attnlab.train_run(cfg, "runs/mine")         # config.json, checkpoint, tokenizer, metrics
    model, tokenizer = attnlab.load_model("runs/mine")

`attnlab train` is argument parsing and printing around it, and every rung of the ladder is one
call. In order, and everything that can fail on bad input fails before the folder is touched:

1. the runtime: device, precision and threads, decided once (`attnlab.runtime.decision.decide`;
   pass `runtime=` to reuse a decision, as the CLI and the ladder do);
2. the corpus, read and encoded (a new tokenizer, or on resume the run's own);
3. the memory the model and a batch need, against what the device has;
4. DDP, joined when torchrun started the process (`attnlab.distributed`; rank 0 owns the folder);
5. the run folder, taken under its rules (`attnlab.runs.folder`: new, resume or overwrite) and
   config.json written, with "auto" resolved to the dtype the run trains in;
6. the one loop (`attnlab.train.gpt.train`): checkpoints, metrics, Ctrl-C saves and stops.

Progress goes to `on_event(kind, info)`: first "run" (the folder, the runtime's lines, the corpus's
size), then the loop's "start", "step", "eval", ... events. Nothing is printed.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from attnlab import distributed
from attnlab.config import TrainConfig
from attnlab.distributed import DistInfo
from attnlab.errors import UserError
from attnlab.model.gpt import GPT
from attnlab.model.memory import gpt_memory_bytes, require_memory
from attnlab.runs import checkpoint as ckpt
from attnlab.runs.folder import open_run_folder
from attnlab.runtime.decision import Runtime, decide
from attnlab.tokenizers import build_tokenizer, load_tokenizer
from attnlab.train.data import load_corpus
from attnlab.train.gpt import TrainResult, encode_corpus, train
from attnlab.train.loop import EventFn

log = logging.getLogger(__name__)

# Fields that may differ from the saved config when resuming; the rest must match.
RESUMABLE = ("max_iters", "eval_interval", "eval_iters", "log_interval", "device", "dtype", "compile")


@dataclass
class RunData:
    """The corpus as the run trains on it."""

    text: str
    tokenizer: object
    train: torch.Tensor  # (N,) token ids
    val: torch.Tensor  # (M,)


@dataclass
class RunResult:
    run_dir: Path
    cfg: TrainConfig  # as config.json holds it: dtype resolved
    runtime: Runtime
    data: RunData
    trained: TrainResult  # the model (eval mode), the step reached, the losses, interrupted or not
    is_main: bool = True  # rank 0 (every run without DDP)

    @property
    def model(self) -> GPT:
        return self.trained.model

    @property
    def tokenizer(self):
        return self.data.tokenizer

    @property
    def interrupted(self) -> bool:
        return self.trained.interrupted


def resume_conflicts(saved: TrainConfig, cfg: TrainConfig) -> list[str]:
    """The fields outside RESUMABLE on which `cfg` differs from the run's saved config, as
    "name (saved -> new)"; [] when the run may continue with cfg."""
    names = [f.name for f in dataclasses.fields(TrainConfig) if f.name not in RESUMABLE]
    return [f"{k} ({getattr(saved, k)!r} -> {getattr(cfg, k)!r})" for k in sorted(names)
            if getattr(cfg, k) != getattr(saved, k)]


def train_run(cfg: TrainConfig, run_dir: str | Path, *, resume: bool = False, overwrite: bool = False,
              on_event: EventFn | None = None, runtime: Runtime | None = None, threads: int = 0) -> RunResult:
    """Train the run folder `run_dir` from `cfg` (see the module docstring) -> RunResult.
    resume: continue the run there from its checkpoint, exactly; overwrite: replace a run there
    (only attnlab's own files go); neither: a new run (an existing one is refused). runtime: a
    decision already made (else decided here from cfg.device, cfg.dtype and `threads`, 0 meaning
    the CPUs other processes leave idle, and torch's threads set)."""
    run_dir = Path(run_dir)
    if resume and overwrite:
        raise UserError("resume and overwrite contradict each other: pick one")
    rt = runtime if runtime is not None else _decide(cfg, threads)
    cfg = dataclasses.replace(cfg, dtype=rt.dtype)  # config.json stores the choice
    if resume:
        _check_resumable(cfg, run_dir)
    data = prepare_data(cfg, run_dir, resume)
    check_memory(cfg, data.tokenizer.vocab_size, rt.device)
    dist = distributed.setup(rt.device.type)
    finished = False  # a rank that failed leaves at once: the others may never reach the barrier
    try:
        trained = _train_in_folder(cfg, run_dir, data, rt, dist, resume, overwrite, on_event)
        finished = True
    finally:
        distributed.cleanup(together=finished)
    return RunResult(run_dir, cfg, rt, data, trained, dist.is_main)


def _decide(cfg: TrainConfig, threads: int) -> Runtime:
    rt = decide(cfg.device, cfg.dtype, threads).apply()
    for line in rt.lines:
        log.info(line)
    for warning in rt.warnings:
        log.warning(warning)
    return rt


def _check_resumable(cfg: TrainConfig, run_dir: Path) -> None:
    if not (run_dir / ckpt.CONFIG).is_file():
        raise UserError(f"nothing to resume: {run_dir} is not a run folder")
    _, saved, _ = ckpt.read_run_config(run_dir)
    conflicts = resume_conflicts(saved, cfg)
    if conflicts:
        raise UserError(f"resume with a conflicting config: {', '.join(conflicts)}; only "
                        f"{', '.join(RESUMABLE)} may change")


def prepare_data(cfg: TrainConfig, run_dir: Path, resume: bool) -> RunData:
    """The corpus read and encoded before anything is written (on resume, with the run's tokenizer)."""
    text = load_corpus(cfg.corpus)
    if resume:
        tokenizer = load_tokenizer(run_dir / ckpt.TOKENIZER_DIR)
    else:
        tokenizer = build_tokenizer(cfg.tokenizer, text, cfg.vocab_size)
    train_data, val_data = encode_corpus(text, tokenizer, cfg)
    return RunData(text, tokenizer, train_data, val_data)


def check_memory(cfg: TrainConfig, vocab_size: int, device: torch.device) -> None:
    """Refuse, with the figures, a model and batch that cannot fit (before anything is allocated)."""
    need = gpt_memory_bytes(cfg.model_config(vocab_size), batch_size=cfg.batch_size, training=True)
    require_memory(need, f"training this model (batch {cfg.batch_size} x block {cfg.block_size})", device)


def _train_in_folder(cfg: TrainConfig, run_dir: Path, data: RunData, rt: Runtime, dist: DistInfo, resume: bool,
                     overwrite: bool, on_event: EventFn | None) -> TrainResult:
    """Rank 0 takes the folder, writes config.json (a new run) and reports; every rank trains."""
    def run_loop(emit: EventFn | None) -> TrainResult:
        return train(cfg, data.train, data.val, data.tokenizer, run_dir, resume=resume, dist=dist,
                     on_event=emit, runtime=rt)

    if not dist.is_main:
        return run_loop(None)
    with open_run_folder(run_dir, "resume" if resume else "overwrite" if overwrite else "new"):
        if not resume:
            ckpt.save_run_config(run_dir, cfg.model_config(data.tokenizer.vocab_size), cfg, data.tokenizer)
        if on_event is not None:
            on_event("run", {"run_dir": str(run_dir), "resume": resume, "lines": list(rt.lines),
                             "corpus": cfg.corpus, "characters": len(data.text), "train_tokens": len(data.train),
                             "val_tokens": len(data.val), "tokenizer": data.tokenizer.name,
                             "vocab_size": data.tokenizer.vocab_size})
        return run_loop(on_event)
