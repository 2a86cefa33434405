"""The induction-head lab: train attention-only GPTs of 1 and 2 layers on a stream of repeated
random chunks, score every head and measure the in-context loss at every evaluation, then ablate
the heads that were found and see whether the in-context learning goes with them.

    OUT_DIR/                 (`attnlab induction --out-dir`, default runs/induction)
      report.md              what happened, in plain words, with the figures
      summary.json           the `attnlab induction --json` object: one entry per model
      layers-1/, layers-2/   one folder per model
        metrics.jsonl        one line per evaluation: {"step", "train_loss", "first_copy_loss",
                             "second_copy_loss", "loss_ratio", "heads": [{"layer", "head",
                             "previous", "induction", "duplicate"}, ...]}
        induction.png        the top heads' scores and the in-context loss ratio against the step

Both models get the same width, heads, data, schedule and seed; only the depth differs. Every
evaluation runs the model on the same held-out sequences of n random tokens repeated twice
(`scores.repeated_tokens`), which give the head scores (`scores.py`) and the first- and
second-copy losses (`ablation.py`) from one forward pass. OUT_DIR follows the run-folder rules
(attnlab.runs.folder): it carries attnlab's marker, a folder attnlab did not make is refused,
and a next run into it replaces only this lab's own files (report.md, summary.json and the
layers-L/ folders it made); nothing else in OUT_DIR is touched.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import torch

from attnlab.io import atomic_write, save_json
from attnlab.labs.induction.ablation import Head, causal_check, losses_by_copy
from attnlab.labs.induction.config import LabConfig
from attnlab.labs.induction.data import repeat_stream
from attnlab.labs.induction.report import plot_model, report_markdown
from attnlab.labs.induction.results import InductionResult, ModelResult
from attnlab.labs.induction.scores import HeadScores, repeated_tokens, score_maps
from attnlab.look.capture import capture_attention
from attnlab.model.gpt import GPT
from attnlab.runs.folder import claim_subfolders, open_lab_folder
from attnlab.runs.metrics import MetricsWriter
from attnlab.train.data import get_batch
from attnlab.train.gpt import configure_optimizer, next_token_loss
from attnlab.train.loop import Plan, get_lr, train_loop
from attnlab.viz.png import save_figure

EventFn = Callable[[str, dict[str, Any]], None]
METRICS = "metrics.jsonl"
FIGURE = "induction.png"
LAB_KIND = "induction lab folder"  # the "what" in OUT_DIR's marker
LAB_FILES = ("report.md", "summary.json")  # its fixed names; layers-N/ are recorded as they are made


def new_model(cfg: LabConfig, n_layers: int) -> GPT:
    """A fresh attention-only GPT, its weights drawn from `cfg.seed` (the same draw for every depth)."""
    torch.manual_seed(cfg.seed)
    return GPT(cfg.train_config(n_layers).model_config(cfg.vocab_size))


@torch.no_grad()
def probe(model: GPT, ids: torch.Tensor, n: int) -> tuple[HeadScores, float, float]:
    """(head scores, first-copy loss, second-copy loss) from one forward pass over ids (B, 2n)."""
    with capture_attention(model) as maps:  # eval mode inside, the previous mode restored after
        logits, _ = model(ids)  # (B, 2n, V)
    return (score_maps(maps, n), *losses_by_copy(logits, ids, n))


def detected_heads(scores: HeadScores, threshold: float) -> list[Head]:
    """The heads scoring above `threshold` as induction or previous-token heads; when there are
    none, the best induction head and the best previous-token head (so a causal check can run)."""
    found = [(l, h) for l, h in zip(*torch.nonzero((scores.induction > threshold)
                                                    | (scores.previous > threshold), as_tuple=True))]
    found = [(int(l), int(h)) for l, h in found]
    if not found:
        found = sorted({scores.best("induction")[:2], scores.best("previous")[:2]})
    return found


def formed_at(history: list[dict[str, Any]], threshold: float) -> int | None:
    """The first evaluated step at which some head's induction score is above `threshold`."""
    for record in history:
        if max(h["induction"] for h in record["heads"]) > threshold:
            return record["step"]
    return None


def train_model(cfg: LabConfig, n_layers: int, stream: torch.Tensor, ids: torch.Tensor, folder: Path,
                emit: EventFn) -> ModelResult:
    """Train one attention-only model with the one loop, probing it at every evaluation (written to
    folder/metrics.jsonl), then run the causal check on the trained model. Ctrl-C stops the lab
    (KeyboardInterrupt) after the current step."""
    train_cfg = cfg.train_config(n_layers)
    model = new_model(cfg, n_layers)
    optimizer = configure_optimizer(model, train_cfg, torch.device("cpu"))
    batches = torch.Generator().manual_seed(cfg.seed)  # the same batches for every depth
    history: list[dict[str, Any]] = []
    step_losses: list[float] = []
    last: list[tuple[HeadScores, float, float]] = []

    def evaluate(step: int) -> dict[str, Any]:
        last[:] = [probe(model, ids, cfg.n)]
        scores, first, second = last[0]
        history.append(evaluation(step, step_losses, scores, first, second))
        return {k: v for k, v in history[-1].items() if k != "step"}

    def on_event(kind: str, info: dict[str, Any]) -> None:
        if kind == "step":
            step_losses.append(info["loss"])
        elif kind == "eval":
            scores, _, _ = last[0]
            emit("eval", {"layers": n_layers, "step": info["step"], "max_iters": cfg.steps,
                          "loss_ratio": info["loss_ratio"], "induction": scores.best("induction"),
                          "previous": scores.best("previous")})

    (folder / METRICS).write_text("", encoding="utf-8")
    emit("start", {"layers": n_layers, "max_iters": cfg.steps, "parameters": model.num_parameters()})
    started = time.perf_counter()
    plan = Plan(next_batch=lambda: get_batch(stream, cfg.batch_size, cfg.block_size, batches),
                loss_fn=next_token_loss,
                lr=lambda step: get_lr(step, cfg.learning_rate, cfg.learning_rate, cfg.warmup_iters, cfg.steps),
                max_steps=cfg.steps, eval_interval=cfg.eval_interval, evaluate=evaluate,
                grad_clip=train_cfg.grad_clip, log_interval=0, plot=False)
    result = train_loop(model, optimizer, plan, MetricsWriter(folder, enabled=True), emit=on_event)
    if result.interrupted:
        raise KeyboardInterrupt
    model.eval()
    scores, first, second = last[0]
    check = causal_check(model, ids, cfg.n, detected_heads(scores, cfg.threshold), cfg.n_heads, n_layers,
                         cfg.random_draws, cfg.seed)
    return ModelResult(n_layers, history, scores, first, second, check, formed_at(history, cfg.threshold),
                       time.perf_counter() - started)


def evaluation(step: int, step_losses: list[float], scores: HeadScores, first: float, second: float
               ) -> dict[str, Any]:
    """One metrics.jsonl record; clears step_losses for the next interval."""
    record = {"step": step, "train_loss": sum(step_losses) / len(step_losses) if step_losses else None,
              "first_copy_loss": first, "second_copy_loss": second, "loss_ratio": second / first,
              "heads": scores.rows()}
    step_losses.clear()
    return record


def run_lab(cfg: LabConfig, out_dir: str | Path, on_event: EventFn | None = None) -> list[ModelResult]:
    """Train and examine one model per entry of cfg.layers; write the files listed in the module
    docstring. `on_event(kind, info)` reports progress: "start", "eval", "done" (one ModelResult)."""
    emit = on_event or (lambda kind, info: None)
    out_dir = Path(out_dir)
    results = []
    with open_lab_folder(out_dir, LAB_KIND, LAB_FILES):  # attnlab's own folder, or refused before any work
        folders = claim_subfolders(out_dir, [f"layers-{n_layers}" for n_layers in cfg.layers])
        stream = repeat_stream(cfg.stream_tokens, cfg.vocab_size, cfg.min_len, cfg.max_len,
                               torch.Generator().manual_seed(cfg.seed), cfg.max_gap, cfg.distinct, cfg.echo)  # (N,)
        ids = repeated_tokens(cfg.n, cfg.eval_batch, cfg.vocab_size,
                              torch.Generator().manual_seed(cfg.seed + 1))  # (B, 2n), never trained on
        for n_layers, folder in zip(cfg.layers, folders):
            result = train_model(cfg, n_layers, stream, ids, folder, emit)
            save_figure(plot_model(result, cfg.threshold), folder / FIGURE)
            results.append(result)
            emit("done", {"result": result})
        save_json(out_dir / "summary.json", {"models": [r.summary() for r in results]})
        text = report_markdown(results, cfg)
        atomic_write(out_dir / "report.md", lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    return results


def run(settings: LabConfig, progress: EventFn) -> InductionResult:
    """The lab's run (labs/shape.py): the memory check, then every model, into settings.out_dir."""
    check_lab_memory(settings)
    started = time.perf_counter()
    models = run_lab(settings, settings.out_dir, on_event=progress)
    return InductionResult(settings, models, time.perf_counter() - started)


def check_lab_memory(cfg: LabConfig) -> None:
    """The deepest model, trained and then probed, must fit before the first one is built."""
    from attnlab.model.memory import gpt_look_bytes, gpt_memory_bytes, require_memory

    config = cfg.train_config(max(cfg.layers)).model_config(cfg.vocab_size)
    need = max(gpt_memory_bytes(config, cfg.batch_size, training=True),
               gpt_look_bytes(config, cfg.eval_batch, 2 * cfg.n))
    require_memory(need, f"the {config.n_layers}-layer model of --layers", hint="pass fewer layers")
