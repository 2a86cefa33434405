"""Who may write a run folder, and exactly what attnlab may delete there.

A folder attnlab writes (a training run, a lab's report folder, an imported or exported model)
carries attnlab's marker file `.attnlab`, written when attnlab creates the folder:
`{"written_by": "attnlab", "what": "run folder", "files": [...]}`. Nothing else counts: a
`config.json` is written by many tools. The names attnlab owns in such a folder, and so the
only ones it ever deletes, are

- its bookkeeping: `.attnlab`, `.lock` and the manifest `.attnlab-files`;
- the folder's fixed names, listed in the marker's "files" (a training run: config.json,
  tokenizer/, state.json, metrics.jsonl, loss.png, tensorboard/; an exported model: the files
  it exported; the induction lab: report.md, summary.json);
- the names recorded in the manifest, each one before it was created (attnlab.io): checkpoint
  folders, temp files of atomic writes, a lab's subfolders.

Never a name because of its pattern: a user's `checkpoint-000020-mybackup/` or `.notes.old` in a
run folder is not on any list, so `--resume` leaves it and `--overwrite` refuses, naming it.
When attnlab deletes, and what: `--resume` (`clean_stale`), the recorded temp names except the
checkpoint state.json points at (what a killed save left); a save, the checkpoint it replaces;
`--overwrite` and a new start over one that never checkpointed (`_empty`), every owned name; a
start that fails before its first checkpoint (`_take_back`), what it wrote, then the folder if
attnlab made it; a lab (`open_lab_folder`), a killed run's recorded temp files. A state.json that
names a checkpoint that is not there is refused before anything is touched.

Folders written before the manifest existed (a marker without "files", no manifest) keep
working: their fixed names are the training run's (with model.safetensors and optimizer.pt of
the oldest, flat runs), and the checkpoint their state.json names
is taken as attnlab's (the manifest they get on their next start records it). A leftover of a
killed save in such a folder is not provably attnlab's: it stays, and `--overwrite` names it.

attnlab never deletes in the folder the user is working in or a parent of it. One writer per
folder: a training run (or a lab) holds an OS advisory lock on `<folder>/.lock` for its whole
life (`filelock`: `fcntl.flock` on POSIX, `msvcrt.locking` on Windows; the OS releases it when
the process dies, even by SIGKILL). A second writer gets a one-line error naming the folder.
Readers (`generate`, `attention`) need no lock: everything they read is replaced atomically.

    with open_run_folder(Path("runs/mine"), mode="new") as run_dir:   # or "resume", "overwrite"
        ...  # train, saving checkpoints (attnlab.runs.checkpoint) into run_dir
    # an error before the first checkpoint (state.json) removes what this start wrote
"""

from __future__ import annotations

import json
import os
import re
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from filelock import FileLock, Timeout

from attnlab.errors import UserError
from attnlab.io import (MANIFEST, atomic_write, check_bookkeeping_file, load_json, manifest_line, plain_name,
                        read_manifest, record_name, save_json, warn_ignored)

WEIGHTS = "model.safetensors"  # what every checkpoint folder holds (see runs/checkpoint.py)
STATE = "state.json"  # the commit record: {"step": ..., "checkpoint": "checkpoint-…"} (see runs/checkpoint.py)
MARKER = ".attnlab"
LOCK = ".lock"
BOOKKEEPING = (MARKER, LOCK, MANIFEST)
RUN_FILES = ("config.json", "tokenizer", "state.json", "metrics.jsonl", "loss.png", "tensorboard")
OLD_RUN_FILES = RUN_FILES + ("model.safetensors", "optimizer.pt")  # a marker without "files": a run folder
# how a path names a checkpoint folder (e.g. `generate --run runs/x/checkpoint-000250-3f2a9c01`); it
# only recognises a path, it never decides what may be deleted
CHECKPOINT_DIR = re.compile(r"checkpoint-\d+(-\w+)?$")
NOT_OURS = ("was not created by attnlab (no .attnlab marker; a folder attnlab wrote before it marked its "
            "folders has none either)")


def check_run_name(name: str) -> str:
    """A run name is one plain folder name: no separators, not '.', '..' or hidden."""
    if not name or name in (".", "..") or name.startswith(".") or "/" in name or "\\" in name \
            or os.sep in name or (os.altsep and os.altsep in name) or "\0" in name:
        raise UserError(f"--name {name!r} must be a plain folder name (no '/', no '..', not hidden)")
    return name


def is_attnlab_folder(path: Path) -> bool:
    """Whether `path` holds attnlab's marker (a marker that is a symlink is refused in one line)."""
    check_bookkeeping_file(path / MARKER)
    return (path / MARKER).is_file()


def read_marker(path: Path) -> dict:
    """The marker's contents ({} for no marker, or an empty or damaged one)."""
    check_bookkeeping_file(path / MARKER)
    try:
        data = load_json(path / MARKER)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def fixed_names(path: Path) -> list[str]:
    """The folder's fixed names, from its marker (a marker without "files": a run folder's)."""
    files = read_marker(path).get("files")
    if not isinstance(files, list):
        return list(OLD_RUN_FILES)
    for name in files:
        if not plain_name(name):
            warn_ignored(path / MARKER, name)
    return [name for name in files if plain_name(name)]


def committed_checkpoint_name(run_dir: str | os.PathLike) -> str | None:
    """The checkpoint folder state.json points at (None: no state.json, or an older flat run)."""
    path = Path(run_dir) / STATE
    check_bookkeeping_file(path)
    if not path.is_file():
        return None
    state = load_json(path)
    if not isinstance(state, dict):
        raise UserError(f"{path} must hold a JSON object (the run's step and checkpoint), got {type(state).__name__}")
    name = state.get("checkpoint")
    if name is not None and not (plain_name(name) and CHECKPOINT_DIR.fullmatch(name)):
        raise UserError(f"{path}: 'checkpoint' must name a checkpoint folder in the run (checkpoint-NNNNNN-…), "
                        f"got {name!r}; nothing was changed")
    return name


def owned_names(path: Path) -> set[str]:
    """Every name attnlab may delete in `path` (see the module docstring)."""

    names = set(BOOKKEEPING) | set(fixed_names(path))
    recorded = read_manifest(path)
    if recorded is not None:
        return names | set(recorded)
    committed = committed_checkpoint_name(path)  # a folder from before the manifest
    return names | ({committed} if committed else set())


def foreign_entries(path: Path) -> list[str]:
    """The entries of `path` attnlab did not write, sorted."""
    owned = owned_names(path)
    return sorted(p.name for p in path.iterdir() if p.name not in owned)


def check_deletable(path: Path) -> None:
    """Refuse to delete in a folder that is not attnlab's, or that holds the working directory."""
    path = path.resolve()
    cwd = Path.cwd().resolve()
    if path == cwd or path in cwd.parents:
        raise UserError(f"refusing to delete files in {path}: it is the working directory or a parent of it")
    if not is_attnlab_folder(path):
        raise UserError(f"{path} {NOT_OURS}; refusing to delete anything in it: pick another --name or --out")


def remove_owned(path: Path, names: list[str]) -> None:
    """Delete those of `names` that attnlab owns in `path` (any other name is left alone)."""
    owned = owned_names(path)
    inside = os.path.realpath(path)
    for name in names:
        entry = path / name
        if name not in owned or not plain_name(name):
            continue
        if entry.is_dir() and not entry.is_symlink():
            if os.path.dirname(os.path.realpath(entry)) != inside:  # never leaves the folder
                continue
            shutil.rmtree(entry)
        elif entry.exists() or entry.is_symlink():
            entry.unlink()


def _lock(path: Path) -> FileLock:
    check_bookkeeping_file(path / LOCK)  # a symlink: the lock would open (and truncate) what it points at
    lock = FileLock(str(path / LOCK), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise UserError(f"{path} is in use by another attnlab process (it holds {path / LOCK}); "
                         f"wait for it to finish or pick another --name") from None
    return lock


def _create(path: Path, text: str) -> None:
    """Write a new small file in one write (a kill leaves it whole or absent); FileExistsError if it exists."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        os.write(fd, text.encode("utf-8"))
    finally:
        os.close(fd)


def _marker_text(what: str, files: tuple[str, ...]) -> dict:
    return {"written_by": "attnlab", "what": what, "files": list(files)}


def _claim(path: Path, mode: str, what: str, files: tuple[str, ...]) -> tuple[FileLock, bool]:
    """Create or take the folder and lock it -> (lock, created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not os.path.lexists(path):
        record_name(path.parent, path.name)  # a folder inside an attnlab folder (a ladder's rung)
    try:
        path.mkdir()
        created = True
    except FileExistsError:
        created = False
        if not path.is_dir():
            raise UserError(f"{path} exists and is not a folder") from None
    if created or not any(path.iterdir()):  # a new or empty folder: make it ours
        if mode == "resume":
            if created:
                path.rmdir()
            raise UserError(f"nothing to resume: {path} is not a run folder (pass --name of an existing run)")
        try:  # the marker first: a second start that sees the folder now waits on the lock
            _create(path / MARKER, json.dumps(_marker_text(what, files), indent=2) + "\n")
        except FileExistsError:
            pass  # a second start got there first: the lock decides
        return _lock(path), created
    if not is_attnlab_folder(path):
        raise UserError(f"{path} exists and {NOT_OURS}; pick another --name or --out (attnlab writes into "
                         f"and deletes only its own folders)")
    return _lock(path), created


def _start_manifest(path: Path) -> None:
    """Give the folder its manifest (a folder from before it gets one naming its committed checkpoint)."""

    if os.path.lexists(path / MANIFEST):
        return
    committed = committed_checkpoint_name(path)
    seed = manifest_line(committed, temp=True) if committed and (path / committed).is_dir() else ""
    try:
        _create(path / MANIFEST, seed)
    except FileExistsError:
        pass


def _compact_manifest(path: Path) -> None:
    """Drop the recorded names that no longer exist (rewrites the manifest only when one is dropped)."""
    recorded = read_manifest(path)
    if recorded is None:
        return
    kept = {name: temp for name, temp in recorded.items() if os.path.lexists(path / name)}
    if kept != recorded:
        text = "".join(manifest_line(name, temp) for name, temp in kept.items())
        atomic_write(path / MANIFEST, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def _check_committed(path: Path) -> None:
    """Refuse, before anything is touched, a state.json that names a checkpoint that is not there."""

    name = committed_checkpoint_name(path)
    if name is None:
        return
    folder = path / name
    if folder.is_symlink() or not folder.is_dir():
        why = "which is not in" if not os.path.lexists(folder) else "which is not a folder (a symlink or a file) in"
    elif (folder / WEIGHTS).is_symlink() or not (folder / WEIGHTS).is_file():
        why = f"which holds no {WEIGHTS} (not a complete checkpoint) in"
    else:
        return
    raise UserError(f"{path / 'state.json'} names the checkpoint folder {name}, {why} {path}; nothing was "
                    f"changed: put it back, or start the run again with --overwrite")


@contextmanager
def open_run_folder(path: Path, mode: str, files: tuple[str, ...] = RUN_FILES) -> Iterator[Path]:
    """Take `path` for writing, locked for the life of the context; `files` are the fixed names
    the run writes (a lab's run adds its own to RUN_FILES).

    mode "new": a missing or empty folder, or one whose earlier start never reached its first
    checkpoint; "resume": a run with a checkpoint; "overwrite": a run folder whose attnlab files
    are deleted first. If the body fails before a checkpoint is committed, the files this start
    wrote are removed again (and the folder, when it is attnlab's).
    """
    marked_before = is_attnlab_folder(path)
    lock, created = _claim(path, mode, "run folder", files)
    ours = created or marked_before
    try:
        committed = (path / "state.json").is_file()
        if mode == "resume" and not committed:
            raise UserError(f"nothing to resume in {path}: its first checkpoint was never saved; start it "
                             f"again without --resume")
        if mode == "new" and committed:
            raise UserError(f"run folder {path} already exists: pass --resume to continue it, --overwrite "
                             f"to replace it, or --name for a new run")
        if mode == "resume":
            _check_committed(path)
            _start_manifest(path)
            clean_stale(path)
        else:
            _empty(path, files)
        try:
            yield path
        except BaseException:
            if not (path / "state.json").is_file():  # no checkpoint: this start wrote it all, take it back
                _take_back(path, lock, ours)
            raise
        _compact_manifest(path)
    finally:
        lock.release()


def _take_back(path: Path, lock: FileLock, ours: bool) -> None:
    """Remove what a start that never reached its first checkpoint wrote, and then its bookkeeping."""
    remove_owned(path, [p.name for p in path.iterdir() if p.name not in BOOKKEEPING])
    lock.release()
    for name in (LOCK, MANIFEST, MARKER):  # the marker last: until it goes, the folder is attnlab's
        if os.path.lexists(path / name):
            (path / name).unlink()
    if ours and not any(path.iterdir()):
        path.rmdir()


def _empty(path: Path, files: tuple[str, ...]) -> None:
    """Delete a previous run's files (--overwrite, or a start that never saved a checkpoint)."""
    foreign = foreign_entries(path)
    if foreign:
        raise UserError(f"{path} holds files attnlab did not write ({', '.join(foreign[:5])}); refusing to "
                         f"replace it: move them away or pick another --name")
    entries = [p.name for p in path.iterdir() if p.name not in BOOKKEEPING]
    if entries:
        check_deletable(path)
        check_no_writer_inside(path, entries)
    _start_manifest(path)
    remove_owned(path, entries)
    _compact_manifest(path)
    if read_marker(path) != _marker_text("run folder", files):  # e.g. an exported model becomes a run
        save_json(path / MARKER, _marker_text("run folder", files))


def check_no_writer_inside(path: Path, names: list[str]) -> None:
    """Refuse, naming it, while another attnlab process writes in a subfolder about to be deleted
    (an `attnlab sae` training inside the run holds that subfolder's lock)."""
    for name in names:
        sub = path / name
        if sub.is_symlink() or not sub.is_dir() or not (sub / LOCK).is_file() or (sub / LOCK).is_symlink():
            continue
        _lock(sub).release()  # taken at once, or a one-line error naming the subfolder in use


def clean_stale(path: Path) -> None:
    """Remove what a killed start left behind: every name the manifest records except the
    checkpoint state.json points at (see attnlab.runs.checkpoint)."""

    keep = committed_checkpoint_name(path)
    recorded = read_manifest(path) or {}
    remove_owned(path, [name for name, temp in recorded.items() if temp and name != keep])
    _compact_manifest(path)


@contextmanager
def open_lab_folder(path: Path, what: str, files: tuple[str, ...]) -> Iterator[Path]:
    """Take a lab's output folder (the induction lab, the ladder): a missing or empty folder
    becomes attnlab's ("what" in its marker, `files` its fixed names); an attnlab folder of the
    same kind is written again (the lab replaces its own files); any other folder is refused.
    Locked for the life of the context; a killed run's temp files are removed first."""
    marked_before = is_attnlab_folder(path)
    lock, _ = _claim(path, "new", what, files)
    try:
        kind = read_marker(path).get("what")
        if marked_before and kind != what:
            raise UserError(f"{path} is an attnlab {kind or 'folder'}; refusing to write the {what} into it: pick "
                             f"another --out-dir")
        _start_manifest(path)
        remove_owned(path, [name for name, temp in (read_manifest(path) or {}).items() if temp])
        _compact_manifest(path)
        yield path
        _compact_manifest(path)
    finally:
        lock.release()


def claim_subfolders(folder: Path, names: list[str]) -> list[Path]:
    """`folder/name` for each name, for a lab to write into: recorded in folder's manifest before
    it is made. If any exists and attnlab did not make it, nothing is made: it is refused, named."""
    owned = owned_names(folder)
    foreign = [name for name in names if os.path.lexists(folder / name) and name not in owned]
    if foreign:
        raise UserError(f"{folder / foreign[0]} was not made by attnlab; refusing to write into it: move it "
                         f"away or pick another --out-dir")
    for name in names:
        if not os.path.lexists(folder / name):
            record_name(folder, name)
            (folder / name).mkdir()
    return [folder / name for name in names]
