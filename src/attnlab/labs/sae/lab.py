"""`attnlab sae` without the command line: an SAE for one point of a run, kept in the run folder.

    RUN/                                  the run (its manifest records the SAE's folder)
      sae-blocks.0.ffwd.hidden-x4/        a run folder of its own (marker, manifest, lock)
        sae.json                          what it was made for and how: {"made_for": {"checkpoint",
                                          "step"}, "point", "d_in", "features", "expansion", "tokens",
                                          "eval_tokens", "train": TrainSettings}
        state.json, checkpoint-*/         as any run: model.safetensors holds W_enc (d, F), b_enc (F),
                                          W_dec (F, d), b_dec (d) (SAELens's names); optimizer.pt
                                          Adam, the batch generator, the features fired since the
                                          last resampling
        metrics.jsonl                     the loss every 10 steps; L0, variance explained, dead and
                                          dense at each evaluation
        summary.json                      the `--json` object, written when training ends

An SAE belongs to one model: the run's committed checkpoint when it was made. If the run has
been trained further (or the folder was copied into another run), it is refused. Ctrl-C saves
and stops; `--resume` continues exactly (the activations are collected again with the same
seeds, from the same weights).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn as nn

from attnlab.errors import UserError
from attnlab.io import load_json, save_json
from attnlab.labs.sae.activations import check_point, collect, drawn, windows
from attnlab.labs.sae.memory import check_browsing, check_training, weights_bytes
from attnlab.labs.sae.metrics import ce_losses, feature_stats
from attnlab.labs.sae.model import SAEConfig, SparseAutoencoder
from attnlab.labs.sae.settings import DEFAULT_POINT, SAERequest, SAESettings, folder_name
from attnlab.labs.sae.train import train_sae
from attnlab.model.memory import require_memory
from attnlab.runs import checkpoint as ckpt
from attnlab.runs.folder import committed_checkpoint_name, is_attnlab_folder, open_run_folder

SETTINGS, SUMMARY = "sae.json", "summary.json"
FILES = (SETTINGS, "state.json", "metrics.jsonl", "loss.png", SUMMARY, "tensorboard")
SEEDS = {"train": 0, "val": 1}  # the windows of each split are drawn with these seeds


def made_for(run_dir: Path) -> dict[str, Any]:
    """The run's identity: its committed checkpoint (a name with a random part, new at every save)."""
    name = committed_checkpoint_name(run_dir)
    if name is None:
        raise UserError(f"{run_dir} has no checkpoint folder to make an SAE for (train it with attnlab train)")
    return {"checkpoint": name, "step": ckpt.read_state(run_dir)["step"]}


def check_made_for(run_dir: Path, sae_dir: Path, settings: dict, point: str | None = None) -> None:
    """Refuse an SAE that was made for another run (or another checkpoint of it), or another point."""
    mine, theirs = made_for(run_dir), settings.get("made_for")
    if not isinstance(theirs, dict) or theirs.get("checkpoint") != mine["checkpoint"]:
        step = theirs.get("step") if isinstance(theirs, dict) else None
        raise UserError(f"{sae_dir} was made for another model (checkpoint {theirs.get('checkpoint') if isinstance(theirs, dict) else None}, "
                        f"step {step}), not {run_dir}'s {mine['checkpoint']}: train one for this run with attnlab sae")
    if point is not None and settings.get("point") != point:
        raise UserError(f"{sae_dir} holds an SAE for {settings.get('point')}, not {point}")


def read_settings(sae_dir: Path) -> dict:
    if not (sae_dir / SETTINGS).is_file():
        raise UserError(f"{sae_dir} holds no SAE ({SETTINGS} not found)")
    data = load_json(sae_dir / SETTINGS)
    if not isinstance(data, dict) or not {"point", "d_in", "features"} <= set(data):
        raise UserError(f"{sae_dir / SETTINGS} is not an SAE's settings file")
    return data


def find_sae(run_dir: Path, name: str | None) -> Path:
    """The SAE folder `name` in the run, or, with no name, the default one or else the only one."""
    if name is not None:
        if "/" in name or name.startswith(".") or not (run_dir / name / SETTINGS).is_file():
            raise UserError(f"no SAE named {name!r} in {run_dir} (made with attnlab sae --run {run_dir})")
        return run_dir / name
    found = sorted(p.name for p in run_dir.iterdir() if p.is_dir() and (p / SETTINGS).is_file())
    default = folder_name(DEFAULT_POINT, 4)
    if default in found:
        return run_dir / default
    if len(found) == 1:
        return run_dir / found[0]
    if not found:
        raise UserError(f"{run_dir} holds no SAE yet: train one with attnlab sae --run {run_dir}")
    raise UserError(f"{run_dir} holds several SAEs ({', '.join(found)}): pick one with --sae NAME")


def sae_config(sae_dir: Path, settings: dict) -> SAEConfig:
    """The SAE's sizes as its sae.json says them, checked (positive integers) before they size anything."""
    try:
        return SAEConfig(settings["d_in"], settings["features"])
    except UserError as e:
        raise UserError(f"{sae_dir / SETTINGS}: {e}") from None


def load_sae(run_dir: Path, sae_dir: Path, point: str | None = None) -> tuple[SparseAutoencoder, dict]:
    """(the SAE in eval mode, its sae.json), checked to be made for this run (and point)."""
    settings = read_settings(sae_dir)
    check_made_for(run_dir, sae_dir, settings, point)
    config = sae_config(sae_dir, settings)
    require_memory(weights_bytes(config.d_in, config.features),
                   f"the SAE in {sae_dir} ({config.features} features of width {config.d_in}, as its {SETTINGS} says)")
    sae = SparseAutoencoder(config)
    ckpt.read_state(sae_dir)
    ckpt.load_committed_weights(sae, sae_dir)
    if not all(torch.isfinite(p).all() for p in sae.parameters()):
        raise UserError(f"the SAE in {sae_dir} has NaN or infinite weights (its training diverged): train it "
                        f"again with attnlab sae --run {run_dir} --overwrite")
    return sae.eval(), settings


KEYS = ("run", "point", "features", "l0", "variance_explained", "ce_clean", "ce_sae", "ce_ablated",
        "loss_recovered", "dead", "dense", "sae")  # of the summary, in `attnlab sae --json`


@dataclass
class SAEResult:
    summary: dict[str, Any]  # what summary.json holds (KEYS and more)
    interrupted: bool

    def to_json(self) -> dict[str, Any]:
        """`attnlab sae --json` and the web lab's answer: the summary's KEYS."""
        return {key: self.summary[key] for key in KEYS}


def run_sae(run_dir: str | Path, request: SAERequest, mode: str = "new",
            on_event: Callable[[str, dict], None] | None = None, opened=None) -> SAEResult:
    """Train (or continue) the SAE of `request.point` in the run, then measure it. mode: "new",
    "resume" or "overwrite"; `opened`: the run's model already loaded (a TextModel: the web lab's),
    else it is loaded from run_dir. Every check happens before anything is written."""
    run_dir = Path(run_dir)
    emit = on_event or (lambda kind, info: None)
    model, tokenizer = (opened.model, opened.tokenizer) if opened is not None else ckpt.load_model(run_dir)
    if not is_attnlab_folder(run_dir):
        raise UserError(f"{run_dir} is not an attnlab run folder; the SAE is saved inside the run")
    d = check_point(model, request.point)
    check_training(run_dir, d, request.expansion, request.tokens, request.eval_tokens, request.train.batch_size)
    sae_dir = run_dir / folder_name(request.point, request.expansion)
    settings = {"made_for": made_for(run_dir), "point": request.point, "d_in": d, "features": request.expansion * d,
                **{k: v for k, v in asdict(request).items() if k not in ("point", "train")},
                "train": asdict(request.train)}
    _check_mode(run_dir, sae_dir, settings, mode)
    emit("collect", {"tokens": request.tokens, "eval_tokens": request.eval_tokens, "point": request.point})
    x, _ = windows(run_dir, tokenizer, "train", request.tokens, SEEDS["train"])
    acts = collect(model, request.point, x)[:request.tokens]  # (N, d)
    ex, ey = windows(run_dir, tokenizer, "val", request.eval_tokens, SEEDS["val"])
    eval_acts = collect(model, request.point, ex)  # (N_eval, d)
    torch.manual_seed(request.train.seed)
    sae = SparseAutoencoder(SAEConfig(d, request.expansion * d), torch.Generator().manual_seed(request.train.seed))
    with open_run_folder(sae_dir, mode, FILES):
        if mode != "resume":
            save_json(sae_dir / SETTINGS, settings)
        else:
            save_json(sae_dir / SETTINGS, {**read_settings(sae_dir), "train": settings["train"]})
        result = train_sae(sae, acts, request.train, eval_acts=eval_acts, run_dir=sae_dir,
                           resume=mode == "resume", on_event=emit)
        summary = measure(model, sae, request.point, eval_acts, ex, ey)
        summary = {"run": str(run_dir), "point": request.point, "features": sae.config.features, **summary,
                   "sae": str(ckpt.checkpoint_dir(sae_dir) / ckpt.WEIGHTS)}
        if not result.interrupted:
            save_json(sae_dir / SUMMARY, {**summary, "step": result.step, "train_seconds": result.elapsed_s})
    return SAEResult(summary, result.interrupted)


def _check_mode(run_dir: Path, sae_dir: Path, settings: dict[str, Any], mode: str) -> None:
    """Resume only an SAE made for this run with the same settings (only the steps may change);
    a new one never over an existing one (said before the minutes of collecting)."""
    if mode == "resume":
        saved = read_settings(sae_dir)
        check_made_for(run_dir, sae_dir, saved, settings["point"])
        differ = sorted(k for k in settings if k != "train" and saved.get(k) != settings[k])
        differ += sorted(f"train.{k}" for k, v in settings["train"].items()
                         if k not in ("steps", "eval_interval") and (saved.get("train") or {}).get(k) != v)
        if differ:
            raise UserError(f"{sae_dir} was trained with other settings ({', '.join(differ)}); give the same "
                            f"ones to resume (only --steps may change), or --overwrite")
    elif mode == "new" and (sae_dir / "state.json").is_file():
        raise UserError(f"{sae_dir} already exists: pass --resume to continue it, --overwrite to replace it")


def run(settings: SAESettings, progress: Callable[[str, dict], None], opened=None) -> SAEResult:
    """The lab's run (labs/shape.py); `opened`: the run's model, when the caller holds it already."""
    return run_sae(settings.run, settings.request(), settings.mode, progress, opened=opened)


def report(result: SAEResult) -> list[str]:
    """What `attnlab sae` prints: the sparsity, the loss recovered, dead and dense, what to do next."""
    s = result.summary
    lines = [f"\n{s['features']} features on {s['point']}: L0 {s['l0']:.1f} per token, variance explained "
             f"{s['variance_explained']:.3f}",
             f"loss: clean {s['ce_clean']:.4f}, with the SAE {s['ce_sae']:.4f}, zero-ablated {s['ce_ablated']:.4f}: "
             f"loss recovered {100 * s['loss_recovered']:.1f}%",
             f"dead features {s['dead']}, dense (active on >10% of tokens) {s['dense']}"]
    if result.interrupted:
        return lines + [f"interrupted: checkpoint saved. Continue with: attnlab sae --run {s['run']} --point "
                        f"{s['point']} --resume"]
    return lines + [f"saved {s['sae']}; browse it with: attnlab features --run {s['run']}"]


def measure(model: nn.Module, sae: SparseAutoencoder, point: str, eval_acts: torch.Tensor, x: torch.Tensor,
            y: torch.Tensor) -> dict[str, Any]:
    """The reported numbers, on the evaluation tokens (see attnlab.labs.sae.metrics)."""
    stats = feature_stats(sae, eval_acts)
    ce = ce_losses(model, sae, point, x, y)
    return {"l0": stats["l0"], "variance_explained": stats["variance_explained"], **ce,
            "dead": stats["dead"], "dense": stats["dense"]}


def open_browser(run_dir: str | Path, name: str | None, tokens: int, opened=None):
    """(Browser over `tokens` tokens of the run's validation text, the SAE's name) for `attnlab
    features` and the web lab; `opened`: the run's model already loaded (a TextModel, as the web
    lab's store holds it), else it is loaded from run_dir."""
    from attnlab.labs.sae.browse import Browser

    run_dir = Path(run_dir)
    model, tokenizer = (opened.model, opened.tokenizer) if opened is not None else ckpt.load_model(run_dir)
    sae_dir = find_sae(run_dir, name)
    config = sae_config(sae_dir, read_settings(sae_dir))
    T = ckpt.read_run_config(run_dir)[1].block_size
    rows = max(1, -(-tokens // T))  # whole windows, at least `tokens` tokens
    batches, total = drawn(run_dir, tokens)
    check_browsing(sae_dir, config.d_in, config.features, rows * T, model.config.vocab_size, total, total // batches)
    sae, settings = load_sae(run_dir, sae_dir)
    x, _ = windows(run_dir, tokenizer, "val", tokens, SEEDS["val"])
    x = x[:rows]  # (W, T)
    return Browser.build(model, tokenizer, settings["point"], x, sae), sae_dir.name
