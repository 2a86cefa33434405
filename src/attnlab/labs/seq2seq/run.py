"""One `attnlab seq2seq` run: settings in, results out (the CLI parses the flags and prints).

    settings = resolve_settings({"task": "reverse", "out": "runs/reverse"})  # the flags given
    run = prepare_run(settings)          # the task and model, checked to fit in memory
    result = train_and_evaluate(run)     # a TokenTaskResult (RegressionResult for plus2-regression)

Nothing is written before train_and_evaluate, except the picture draw_positional_encoding draws.
With settings.out the run lives in an attnlab run folder (see attnlab.labs.seq2seq.train):
config.json, the checkpoint, metrics.jsonl and loss.png; state.json also records the result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, NamedTuple

import torch

from attnlab.config import Seq2SeqConfig, config_from_dict
from attnlab.errors import UserError
from attnlab.labs.seq2seq.settings import REGRESSION_TASK, RUN_SETTINGS, Seq2SeqRunConfig, flag
from attnlab.labs.seq2seq.tasks import (Seq2SeqBatch, TokenTask, cross_attention_alignment, exact_match,
                                        plus2_regression_data)
from attnlab.labs.seq2seq.train import (add_to_state, read_run_config, save_run_config, train_plus2_regression,
                                        train_seq2seq)
from attnlab.model.embeddings import sinusoidal_table
from attnlab.model.memory import require_memory, seq2seq_memory_bytes
from attnlab.model.seq2seq import EncoderDecoder
from attnlab.runs import checkpoint as ckpt
from attnlab.runs.folder import open_run_folder
from attnlab.train.loop import EventFn
from attnlab.viz.png import plot_grid
from attnlab.viz.positional import save_positional_encoding_png

EVAL_SEED = 1234  # the held-out evaluation set does not depend on the seed
PE_ROWS = 100  # positions draw_positional_encoding draws
Labels = Callable[[int, int], tuple[list[str], list[str]]]  # (example b, its length L) -> axis labels


@dataclass
class Seq2SeqRun:
    """A run ready to train: its settings, the task (None: the regression), the model's config,
    and whether it continues the checkpoint in settings.out."""

    settings: Seq2SeqRunConfig
    task: TokenTask | None
    model: Seq2SeqConfig
    resume: bool


class Alignment(NamedTuple):
    """How much each cross-attention head reads the source token aligned with its step."""

    anti: bool | None  # measured on the anti-diagonal (reverse); None: not measured (sort has no fixed one)
    mass: dict[str, list[float]]  # "decoder.blocks.i.cross_attn" -> per head; 1.0: exactly the aligned token
    uniform: float  # the mass uniform attention would have


class Example(NamedTuple):
    src: list[int]  # a held-out source sequence
    got: list[int]  # the model's answer
    want: list[int]  # the right one


@dataclass
class RegressionResult:
    predictions: dict[str, list[float]]  # src, target, teacher_forced, autoregressive (see train_plus2_regression)
    alignment: Alignment


@dataclass
class TokenTaskResult:
    step: int  # the step training reached
    interrupted: bool  # stopped by Ctrl-C: then there is no evaluation below
    accuracy: float | None = None  # held-out exact match
    examples: list[Example] = field(default_factory=list)
    alignment: Alignment | None = None


def resolve_settings(given: dict[str, Any]) -> Seq2SeqRunConfig:
    """The settings of the flags given (field name -> value): over the defaults, or on resume over
    the saved run's. A folder that holds a run needs resume; resuming with a run setting that
    contradicts the saved run is refused, naming every such flag."""
    out, resume = given.get("out"), given.get("resume", False)
    saved = None
    if out and (Path(out) / ckpt.CONFIG).exists():
        saved = read_run_config(out)  # refuses another kind of checkpoint
        if (Path(out) / ckpt.STATE).exists() and not resume:
            raise UserError(f"{out} already holds a run; pass --resume to continue it, or another --out")
    if saved is None or not resume:
        return config_from_dict(Seq2SeqRunConfig, given, "seq2seq setting")
    old = saved_settings(saved, out)
    conflicts = [f"{flag(k)} ({old[k]!r} -> {v!r})" for k, v in given.items()
                 if k in RUN_SETTINGS and k in old and old[k] != v]
    if conflicts:
        changeable = ", ".join(flag(name) for name in Seq2SeqRunConfig.changeable())
        raise UserError(f"--resume with flags that differ from the saved run: {', '.join(conflicts)}; only "
                        f"{changeable} may change")
    return config_from_dict(Seq2SeqRunConfig, {**old, **given}, "seq2seq setting")


def saved_settings(saved: dict, out: str) -> dict[str, Any]:
    """The settings recorded in a seq2seq run's config.json (the regression records only its task)."""
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


def task_dict(task: TokenTask) -> dict[str, Any]:
    """A token task as config.json records it."""
    return {"name": task.name, "vocab": task.vocab, "min_len": task.min_len, "max_len": task.max_len}


def prepare_run(settings: Seq2SeqRunConfig) -> Seq2SeqRun:
    """The task and model of `settings`, checked to fit in memory before anything is allocated.
    Continuing a checkpoint takes its saved model, which must have been trained on this task."""
    if settings.regression:
        task, model = None, settings.model_config()
    else:
        task = TokenTask(settings.task, vocab=settings.vocab, min_len=settings.min_len, max_len=settings.max_len)
        model = settings.model_config(task.src_vocab_size, task.tgt_vocab_size)
    resume = settings.resume and (Path(settings.out) / ckpt.STATE).exists()
    if resume:
        saved = read_run_config(settings.out)
        if saved.get("task") != task_dict(task):
            raise UserError(f"{settings.out} was trained on {saved.get('task')}, not {task_dict(task)}")
        model = Seq2SeqConfig.from_dict(saved["model"])
    check_memory(settings, task, model)
    return Seq2SeqRun(settings, task, model, resume)


def check_memory(settings: Seq2SeqRunConfig, task: TokenTask | None, config: Seq2SeqConfig) -> None:
    """Training (weights, Adam, a batch) and evaluation (eval_size × beam hypotheses, and the
    sequences drawn to find eval_size held-out ones) must fit, before anything is allocated."""
    s = settings
    L = 5 if task is None else task.max_len  # seed 002's sequence has 5 values
    need = seq2seq_memory_bytes(config, 1 if task is None else s.batch_size, L, L + 1, training=True)
    if task is not None:
        drawn = 2 * s.eval_size * task.held_out_every * (task.max_len + 3) * 8  # int64 values, lengths, hashes
        need = max(need, seq2seq_memory_bytes(config, s.eval_size, L, L + 1, beam=s.beam) + drawn)
    need += config.d_model * PE_ROWS * 4 if s.pe_png else 0
    require_memory(need, f"this seq2seq run ({s.n_layers}+{s.n_layers} layers, d_model {config.d_model}, "
                         f"d_ff {config.d_ff}, batch {s.batch_size}, eval {s.eval_size}, beam {s.beam})",
                   hint="make them smaller")


def draw_positional_encoding(run: Seq2SeqRun) -> None:
    """The sinusoidal table of the model's width, PE_ROWS positions, drawn to settings.pe_png."""
    save_positional_encoding_png(sinusoidal_table(PE_ROWS, run.model.d_model), run.settings.pe_png)


def train_and_evaluate(run: Seq2SeqRun, on_event: EventFn | None = None) -> RegressionResult | TokenTaskResult:
    """Train (reporting the loop's events to on_event), then measure; with settings.out, inside
    the run folder. Writes settings.png, the cross-attention map, when it is set."""
    s = run.settings
    if s.threads:
        torch.set_num_threads(s.threads)
    train = run_regression if run.task is None else run_token_task
    if s.out is None:
        return train(run, on_event)
    # --out is a run folder like attnlab train's: attnlab's marker, one writer at a time, and a
    # start that fails before its first checkpoint takes back what it wrote
    with open_run_folder(Path(s.out), "resume" if run.resume else "new"):
        return train(run, on_event)


def run_regression(run: Seq2SeqRun, on_event: EventFn | None = None) -> RegressionResult:
    """Seed 002's program: `steps` epochs on its one sequence, then both ways of predicting it."""
    s = run.settings
    torch.manual_seed(s.seed)
    if s.out:
        save_run_config(s.out, run.model, {"name": REGRESSION_TASK}, {"epochs": s.steps, "lr": s.lr, "seed": s.seed})
    model, predictions = train_plus2_regression(s.steps, s.lr, run.model, s.out, on_event)
    src, tgt, target = plus2_regression_data()
    batch = Seq2SeqBatch(src, None, tgt, None, target, torch.tensor([src.shape[1]]))
    tgt_labels = ["0"] + [f"{v:g}" for v in predictions["target"][:-1]]  # the decoder's input, shifted right
    src_labels = [f"{v:g}" for v in predictions["src"]]
    alignment = cross_attention(model, REGRESSION_TASK, batch, False, lambda b, L: (src_labels, tgt_labels), s.png)
    if s.out:
        add_to_state(s.out, result=predictions)
    return RegressionResult(predictions, alignment)


def run_token_task(run: Seq2SeqRun, on_event: EventFn | None = None) -> TokenTaskResult:
    """Train on batches drawn from (seed, step), so a resumed run sees the batches it would have
    seen; then evaluate on the held-out split."""
    s, task = run.settings, run.task
    if s.out and not run.resume:
        save_run_config(s.out, run.model, task_dict(task), {"steps": s.steps, "lr": s.lr, "warmup": s.warmup,
                                                            "batch_size": s.batch_size, "seed": s.seed})
    torch.manual_seed(s.seed)
    model = EncoderDecoder(run.model)

    def get_batch(step: int) -> Seq2SeqBatch:
        g = torch.Generator().manual_seed(s.seed * 1_000_003 + step)  # batch = f(seed, step): resumable
        return task.sample(s.batch_size, g, held_out=False)

    _, step, interrupted = train_seq2seq(model, get_batch, s.steps, s.lr, warmup=s.warmup, run_dir=s.out,
                                         resume=run.resume, save_every=s.save_every, on_event=on_event)
    if interrupted:
        return TokenTaskResult(step, interrupted=True)
    return evaluate_token_task(model, run, step)


def evaluate_token_task(model: EncoderDecoder, run: Seq2SeqRun, step: int) -> TokenTaskResult:
    """Exact match on eval_size held-out sequences (the same ones for every seed), a few of them
    as examples, and the cross-attention's alignment."""
    s, task = run.settings, run.task
    held_out = task.sample(s.eval_size, torch.Generator().manual_seed(EVAL_SEED), held_out=True)
    accuracy, pred = exact_match(model, held_out, beam_width=s.beam)
    examples = []
    for b in range(min(s.examples, s.eval_size)):
        L = int(held_out.lengths[b])
        examples.append(Example(task.decode_values(held_out.src[b, :L].tolist()), task.decode_values(pred[b].tolist()),
                                task.decode_values(held_out.labels[b].clamp(min=0).tolist())))
    if s.out:
        add_to_state(s.out, held_out_exact_match=accuracy)

    def labels(b: int, L: int) -> tuple[list[str], list[str]]:
        src = [str(v) for v in task.decode_values(held_out.src[b, :L].tolist())]
        return src, ["BOS"] + [str(v) for v in task.decode_values(held_out.tgt_in[b, 1:L + 1].tolist())]

    anti = {"sort": None, "reverse": True}.get(task.name, False)
    alignment = cross_attention(model, task.name, held_out, anti, labels, s.png)
    return TokenTaskResult(step, False, accuracy, examples, alignment)


def cross_attention(model: EncoderDecoder, name: str, batch: Seq2SeqBatch, anti: bool | None, labels: Labels,
                    png: str | None) -> Alignment:
    """Each cross-attention head's diagonal mass (anti-diagonal if `anti`; none if None) over up to
    200 teacher-forced examples; with `png`, the longest one's map drawn there."""
    found = cross_attention_alignment(model, batch, anti)
    if png:
        b = found.longest
        L = int(batch.lengths[b])
        src_labels, tgt_labels = labels(b, L)
        maps = {module: w[b, :, :len(tgt_labels), :L] for module, w in found.weights.items()}  # (H, T, S)
        plot_grid(maps, tgt_labels, src_labels, title=f"{name}: cross-attention (rows: decoder input, "
                  f"columns: source)", path=png)
    return Alignment(anti, {module: mass.tolist() for module, mass in found.mass.items()}, found.uniform)
