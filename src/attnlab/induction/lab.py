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
second-copy losses (`ablation.py`) from one forward pass. Files this lab writes are replaced
on the next run; nothing else in OUT_DIR is touched.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from attnlab.config import TrainConfig
from attnlab.data import get_batch
from attnlab.induction.ablation import CausalCheck, Head, causal_check, copy_losses
from attnlab.induction.data import repeat_stream
from attnlab.induction.scores import HeadScores, repeated_tokens, score_maps
from attnlab.model.gpt import GPT
from attnlab.train import configure_optimizer, get_lr, train_loop

EventFn = Callable[[str, dict[str, Any]], None]
METRICS = "metrics.jsonl"
FIGURE = "induction.png"


@dataclass
class LabConfig:
    """The lab's settings; the defaults form an induction head in the 2-layer model in minutes on a CPU."""

    layers: tuple[int, ...] = (1, 2)  # one model per entry: its number of layers
    vocab_size: int = 64
    d_model: int = 128
    n_heads: int = 4
    block_size: int = 32  # training windows; the repeated test sequence is 2n <= block_size tokens
    min_len: int = 2  # chunk lengths of the training stream
    max_len: int = 16
    stream_tokens: int = 1_000_000
    batch_size: int = 64
    steps: int = 2000
    learning_rate: float = 2e-3
    warmup_iters: int = 100
    weight_decay: float = 0.0
    n: int = 16  # length of the random sequence that is repeated at evaluation
    eval_batch: int = 64
    eval_interval: int = 50
    threshold: float = 0.4  # a head "is" an induction / previous-token head above this score
    random_draws: int = 5
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.layers or any(layers < 1 for layers in self.layers):
            raise ValueError(f"layers must be positive layer counts, got {self.layers}")
        if not 2 <= self.n <= min(self.vocab_size, self.block_size // 2):
            raise ValueError(f"n ({self.n}) must be in 2 .. min(vocab_size, block_size // 2) = "
                             f"{min(self.vocab_size, self.block_size // 2)}")
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold}")
        if self.random_draws < 1:
            raise ValueError(f"random_draws must be >= 1, got {self.random_draws}")
        self.train_config(max(self.layers))  # checks the model and schedule fields

    def train_config(self, n_layers: int) -> TrainConfig:
        """The project's TrainConfig for the model with `n_layers` layers (constant rate after warmup)."""
        return TrainConfig(corpus="induction-stream", n_layers=n_layers, n_heads=self.n_heads, d_model=self.d_model,
                           block_size=self.block_size, batch_size=self.batch_size, max_iters=self.steps,
                           learning_rate=self.learning_rate, min_lr=self.learning_rate,
                           warmup_iters=self.warmup_iters, weight_decay=self.weight_decay,
                           eval_interval=self.eval_interval, device="cpu", seed=self.seed)

    def model(self, n_layers: int) -> GPT:
        """A fresh attention-only GPT, its weights drawn from `seed` (the same draw for every depth)."""
        torch.manual_seed(self.seed)
        config = self.train_config(n_layers).model_config(self.vocab_size)
        return GPT(dataclasses.replace(config, ffn=False))


@dataclass
class ModelResult:
    """One trained model: its evaluations, final scores and losses, and the causal check."""

    layers: int
    history: list[dict[str, Any]]
    scores: HeadScores
    first_copy_loss: float
    second_copy_loss: float
    check: CausalCheck
    formed_at_step: int | None
    elapsed_s: float

    def summary(self) -> dict[str, Any]:
        """This model's entry of the `--json` object."""
        def best(name: str) -> dict[str, Any]:
            layer, head, score = self.scores.best(name)
            return {"layer": layer, "head": head, "score": round(score, 4)}

        return {"layers": self.layers, "best_induction": best("induction"), "best_previous": best("previous"),
                "first_copy_loss": round(self.first_copy_loss, 4),
                "second_copy_loss": round(self.second_copy_loss, 4),
                "ablate_detected": round(self.check.ablate_detected, 4),
                "ablate_random": round(self.check.ablate_random, 4), "formed_at_step": self.formed_at_step}


@torch.no_grad()
def probe(model: GPT, ids: torch.Tensor, n: int) -> tuple[HeadScores, float, float]:
    """(head scores, first-copy loss, second-copy loss) from one forward pass over ids (B, 2n)."""
    from attnlab.viz.capture import capture_attention

    with capture_attention(model) as maps:
        first, second = copy_losses(model, ids, n)
    return score_maps(maps, n), first, second


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
    """Train one attention-only model with the project's `train_loop`, probing it at every evaluation
    (written to folder/metrics.jsonl), then run the causal check on the trained model."""
    train_cfg = cfg.train_config(n_layers)
    model = cfg.model(n_layers)
    optimizer = configure_optimizer(model, train_cfg, torch.device("cpu"))
    batches = torch.Generator().manual_seed(cfg.seed)  # the same batches for every depth
    history: list[dict[str, Any]] = []
    step_losses: list[float] = []
    last: list[Any] = []  # the latest probe: (scores, first, second)
    metrics = folder / METRICS
    metrics.write_text("", encoding="utf-8")

    def next_batch(step: int) -> tuple[torch.Tensor, torch.Tensor]:
        return get_batch(stream, cfg.batch_size, cfg.block_size, batches)  # (B, T), (B, T)

    def next_token_loss(model: torch.nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, y = batch
        return model(x, y)[1]

    def evaluate(step: int) -> None:
        scores, first, second = probe(model, ids, cfg.n)
        last[:] = [scores, first, second]
        record = {"step": step, "train_loss": sum(step_losses) / len(step_losses) if step_losses else None,
                  "first_copy_loss": first, "second_copy_loss": second, "loss_ratio": second / first,
                  "heads": scores.rows()}
        step_losses.clear()
        history.append(record)
        with open(metrics, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        emit("eval", {"layers": n_layers, "step": step, "max_iters": cfg.steps, "loss_ratio": second / first,
                      "induction": scores.best("induction"), "previous": scores.best("previous")})

    started = time.perf_counter()
    emit("start", {"layers": n_layers, "max_iters": cfg.steps, "parameters": model.num_parameters()})
    _, interrupted = train_loop(
        model, optimizer, next_batch, next_token_loss,
        lambda step: get_lr(step, cfg.learning_rate, cfg.learning_rate, cfg.warmup_iters, cfg.steps),
        0, cfg.steps, grad_clip=train_cfg.grad_clip, eval_interval=cfg.eval_interval, evaluate=evaluate,
        on_step=lambda info: step_losses.append(info["loss"]))
    if interrupted:
        raise KeyboardInterrupt
    scores, first, second = last
    detected = detected_heads(scores, cfg.threshold)
    check = causal_check(model, ids, cfg.n, detected, cfg.n_heads, n_layers, cfg.random_draws, cfg.seed)
    return ModelResult(n_layers, history, scores, first, second, check, formed_at(history, cfg.threshold),
                       time.perf_counter() - started)


def run_lab(cfg: LabConfig, out_dir: str | Path, on_event: EventFn | None = None) -> list[ModelResult]:
    """Train and examine one model per entry of cfg.layers; write the files listed in the module
    docstring. `on_event(kind, info)` reports progress: "start", "eval", "done" (one ModelResult)."""
    from attnlab.induction.report import plot_model, report_markdown
    from attnlab.io import atomic_write, save_json
    from attnlab.viz.png import save_figure

    emit = on_event or (lambda kind, info: None)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stream = repeat_stream(cfg.stream_tokens, cfg.vocab_size, cfg.min_len, cfg.max_len,
                           torch.Generator().manual_seed(cfg.seed))  # (N,)
    ids = repeated_tokens(cfg.n, cfg.eval_batch, cfg.vocab_size,
                          torch.Generator().manual_seed(cfg.seed + 1))  # (B, 2n), never trained on
    results = []
    for n_layers in cfg.layers:
        folder = out_dir / f"layers-{n_layers}"
        folder.mkdir(exist_ok=True)
        result = train_model(cfg, n_layers, stream, ids, folder, emit)
        save_figure(plot_model(result, cfg.threshold), folder / FIGURE)
        results.append(result)
        emit("done", {"result": result})
    save_json(out_dir / "summary.json", {"models": [r.summary() for r in results]})
    text = report_markdown(results, cfg)
    atomic_write(out_dir / "report.md", lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    return results
