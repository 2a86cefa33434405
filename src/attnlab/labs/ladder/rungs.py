"""The ablation ladder: the lecture's GPT built one part at a time, and what each part buys.

Karpathy's "Let's build GPT" lecture grows a bigram model into a GPT, one part at a time, and
trains each step with the same data, seed, batches, steps and learning rate. `run_ladder` does
the same on any corpus and returns each rung's parameters, validation loss and wall time:

    rung            what it adds                                                   lecture
    1 bigram        a (V, V) table: each character's row is the next one's logits  ~2.5
    2 one-head      token + position embeddings, one causal head of 32, lm_head    2.40
    3 multi-head    4 heads of 8, concatenated                                     2.28
    4 feed-forward  a feed-forward layer after attention (32 -> 32, ReLU)          2.24
    5 residual      residual connections with W_O; 3 blocks, feed-forward 4x      2.08
    6 layernorm     pre-LN LayerNorm in every block and before lm_head             2.06
    7 scaled        (scaled=True) 6 layers, 6 heads, 384 wide, block 256, dropout  1.48

The lecture's small settings (`LECTURE`): char tokens, 90/10 split, block 8, batch 32, width
32, ReLU, PyTorch's default initialisation, AdamW at a constant 1e-3 (betas 0.9/0.999, weight
decay 0.01, no warmup, no clipping), 5000 steps, seed 1337, validation loss averaged over 200
batches every 500 steps. Each model keeps the learning rate the lecture trains it with: 1e-2
for the bigram (bigram.py), 1e-3 for the rungs of v2.py, 3e-4 for the scaled gpt.py.

A ladder folder:

    runs/ladder-shakespeare/
      ladder.json     {"corpus", "corpus_sha256", "rungs": [{"name", "added", "params",
                      "val_loss", "seconds", "run", "finished", "step", "config"}, ...]},
                      rewritten (atomically) after every rung
      ladder.png      every rung's validation loss against the step, overlaid and labelled
      ladder.md       the table and the picture
      1-bigram/       an ordinary run folder (see attnlab.runs.checkpoint): `attnlab generate`,
      2-one-head/     `attention` and `explain` read it (the bigram has no attention to show)
      ...
      6-layernorm/    (7-scaled/ with scaled=True)

The ladder folder follows the run-folder rules (attnlab.runs.folder): attnlab's marker, a folder
attnlab did not make is refused, and each rung folder is recorded in its manifest when it is
made. Resuming: a rung that ladder.json and its run folder both say finished, with the same
TrainConfig and the same text (sha256), is not trained again; a rung stopped by Ctrl-C
continues from its checkpoint; any other run folder of that name is replaced (only what
attnlab wrote there is deleted, see attnlab.runs.folder).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from attnlab.config import TrainConfig
from attnlab.io import load_json, save_json
from attnlab.labs.ladder.report import write_report
from attnlab.runs import checkpoint as ckpt
from attnlab.runs.folder import open_lab_folder
from attnlab.runtime.decision import Runtime, decide
from attnlab.train.data import load_corpus
from attnlab.train.run import train_run

EventFn = Callable[[str, dict[str, Any]], None]
LADDER_JSON = "ladder.json"
LADDER_KIND = "ladder folder"  # the "what" in the ladder folder's marker
LADDER_FILES = (LADDER_JSON, "ladder.png", "ladder.md")  # its fixed names; rung folders are recorded as made

# The lecture's small settings, shared by every rung.
LECTURE: dict[str, Any] = dict(
    tokenizer="char", val_fraction=0.1, block_size=8, batch_size=32, d_model=32, activation="relu", dropout=0.0,
    init="torch",  # PyTorch's own initialisation: the lecture never re-initialises its small models
    # GPT-2's biases (q/k/v yes, lm_head no) rather than the lecture's (the reverse), so that the
    # last rung is a GPT-2 that `attnlab export-hf` accepts
    bias=True, qkv_bias=True, lm_head_bias=False, tie_weights=False,
    # torch.optim.AdamW's defaults at a constant learning rate, as in the lecture
    learning_rate=1e-3, min_lr=1e-3, warmup_iters=0, weight_decay=0.01, beta1=0.9, beta2=0.999, grad_clip=0.0,
    max_iters=5000, eval_iters=200, seed=1337)  # eval_interval: a tenth of the steps (500), see rung_config
# Everything the lecture adds after its first attention head is off at the start.
BARE: dict[str, Any] = dict(n_layers=1, ffn=False, residual=False, norm="none", attn_proj=False)


@dataclass(frozen=True)
class Rung:
    name: str
    added: str  # what this rung adds to the one before
    fields: dict[str, Any] = field(default_factory=dict)  # TrainConfig fields on top of LECTURE


RUNGS = (
    # the lecture trains its bigram (bigram.py) at 1e-2, as the scaled rung keeps its gpt.py's 3e-4:
    # at 1e-3 a (V, V) table is still far from converged after 5000 steps
    Rung("bigram", "a (V, V) table: each token's row is the next token's logits",
         dict(bigram=True, n_layers=1, n_heads=1, learning_rate=1e-2, min_lr=1e-2)),
    Rung("one-head", "embeddings, one self-attention head (32 wide), lm_head", dict(BARE, n_heads=1)),
    Rung("multi-head", "4 heads of 8, concatenated", dict(BARE, n_heads=4)),
    Rung("feed-forward", "a feed-forward layer after attention (32 wide, ReLU)",
         dict(BARE, n_heads=4, ffn=True, d_ff=32)),
    Rung("residual", "residual connections with W_O; 3 blocks, feed-forward 4x",
         dict(n_layers=3, n_heads=4, norm="none")),
    Rung("layernorm", "LayerNorm before each sublayer and lm_head (pre-LN)", dict(n_layers=3, n_heads=4, norm="pre")),
)
# The lecture's last model (its gpt.py): learning rate 3e-4 and batch 64 as there.
SCALED = Rung("scaled", "6 layers, 6 heads, 384 wide, block 256, dropout 0.2",
              dict(n_layers=6, n_heads=6, d_model=384, block_size=256, dropout=0.2, batch_size=64,
                   learning_rate=3e-4, min_lr=3e-4))


def ladder_rungs(scaled: bool = False) -> tuple[Rung, ...]:
    return RUNGS + ((SCALED,) if scaled else ())


def rung_config(rung: Rung, corpus: str, steps: int = 5000, **settings: Any) -> TrainConfig:
    """One rung's TrainConfig: the lecture's settings, the rung's parts, then `settings`
    (device, eval_iters, seed, ...): `rung_config(RUNGS[2], "shakespeare").n_heads == 4`.
    The loss is estimated every tenth of the steps unless `eval_interval` is given."""
    return TrainConfig(**{**LECTURE, **rung.fields, "corpus": corpus, "max_iters": steps,
                          "eval_interval": max(1, steps // 10), **settings})


def run_ladder(corpus: str = "shakespeare", out_dir: str | Path = "runs/ladder-shakespeare", steps: int = 5000,
               scaled: bool = False, on_event: EventFn | None = None, runtime: Runtime | None = None,
               **settings: Any) -> dict[str, Any]:
    """Train (or reuse) every rung into out_dir and write ladder.json, ladder.png, ladder.md.

    Returns {"dir", "rungs": [record, ...], "interrupted"}; a record is the dict stored in
    ladder.json. on_event(kind, info) gets "ladder" (the plan), "rung" (one starts or is
    reused), the events of `attnlab.train.run.train_run`, and "rung_done". Every rung runs on
    one runtime: `runtime`, or the one decided here from settings' device and dtype (its dtype is
    each rung's, so "auto" is stored as what it chose).
    """
    out_dir, emit = Path(out_dir), on_event or (lambda kind, info: None)
    if runtime is None:
        runtime = decide(settings.get("device", "auto"), settings.get("dtype", "auto")).apply()
    settings = {**settings, "dtype": runtime.dtype}
    plan = [(rung, rung_config(rung, corpus, steps, **settings)) for rung in ladder_rungs(scaled)]  # checks all
    text = load_corpus(corpus)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    emit("ladder", {"rungs": [rung.name for rung, _ in plan], "total_steps": sum(c.max_iters for _, c in plan)})
    with open_lab_folder(out_dir, LADDER_KIND, LADDER_FILES):  # attnlab's own folder, or refused
        return _climb(plan, corpus, digest, out_dir, emit, runtime)


def _climb(plan: list[tuple[Rung, TrainConfig]], corpus: str, digest: str, out_dir: Path, emit: EventFn,
           runtime: Runtime) -> dict[str, Any]:
    """Train (or reuse) each rung in turn, rewriting ladder.json after each -> run_ladder's result."""
    saved = {r["name"]: r for r in _read_records(out_dir)}
    records, interrupted = [], False
    for index, (rung, cfg) in enumerate(plan, 1):
        run_dir = out_dir / f"{index}-{rung.name}"
        info = {"index": index, "of": len(plan), "name": rung.name, "max_iters": cfg.max_iters}
        before = saved.get(rung.name)
        same = before is not None and before.get("config") == cfg.to_dict() and before.get("corpus_sha256") == digest
        state = _run_state(run_dir, cfg) if same else None
        info["reused"] = state == "finished" and bool(before.get("finished"))
        emit("rung", info)
        if info["reused"]:
            record = {**before, "run": str(run_dir)}  # the folder may have moved with its ladder
        else:
            record = _train_rung(rung, cfg, run_dir, before if state == "stopped" else None, emit, runtime)
            record["corpus_sha256"] = digest
        records.append(record)
        saved[rung.name] = record
        save_json(out_dir / LADDER_JSON, {"corpus": corpus, "corpus_sha256": digest,
                                          "rungs": [saved[r.name] for r, _ in plan if r.name in saved]})
        emit("rung_done", {**info, "record": record})
        if not record["finished"]:
            interrupted = True
            break
    write_report(out_dir, records)
    return {"dir": str(out_dir), "rungs": records, "interrupted": interrupted}


def _train_rung(rung: Rung, cfg: TrainConfig, run_dir: Path, stopped: dict[str, Any] | None, emit: EventFn,
                runtime: Runtime) -> dict[str, Any]:
    """Train one rung (continuing `stopped`, the record of a run stopped by Ctrl-C) -> its record."""
    resume = stopped is not None
    started = time.perf_counter()
    # an earlier run of this rung with other settings is replaced (only if attnlab wrote it)
    run = train_run(cfg, run_dir, resume=resume, overwrite=not resume and run_dir.exists(), on_event=emit,
                    runtime=runtime)
    result = run.trained
    seconds = time.perf_counter() - started + (stopped["seconds"] if stopped else 0.0)
    finished = not result.interrupted and result.step == cfg.max_iters
    return {"name": rung.name, "added": rung.added, "params": result.model.num_parameters(),
            "val_loss": result.last_losses["val"] if finished else None, "seconds": round(seconds, 2),
            "run": str(run_dir), "finished": finished, "step": result.step, "config": cfg.to_dict()}


def _run_state(run_dir: Path, cfg: TrainConfig) -> str | None:
    """"finished" or "stopped" for a run folder trained with exactly cfg, else None."""
    try:
        _, saved, _ = ckpt.read_run_config(run_dir)
        step = ckpt.read_state(run_dir)["step"]
    except (OSError, ValueError):
        return None
    if saved != cfg:
        return None
    return "finished" if step == cfg.max_iters else "stopped"


def _read_records(out_dir: Path) -> list[dict[str, Any]]:
    """The rung records of an earlier ladder in out_dir ([] if none or unreadable)."""
    path = out_dir / LADDER_JSON
    if not path.is_file():
        return []
    try:
        data = load_json(path)
    except ValueError:
        return []
    rungs = data.get("rungs") if isinstance(data, dict) else None
    return [r for r in rungs if isinstance(r, dict) and "name" in r] if isinstance(rungs, list) else []
