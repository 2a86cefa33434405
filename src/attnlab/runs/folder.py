"""Who may write a run folder, and what attnlab may delete there.

A folder attnlab writes (a training run, an imported or exported model) carries attnlab's own
marker file, `.attnlab`, written when attnlab creates the folder. Nothing else counts: a
`config.json` is written by many tools. attnlab deletes only

- inside a folder that has the marker,
- the entries attnlab itself writes there (`RUN_ENTRIES`, checkpoint folders, its temp files),

and refuses, naming them, when anything else is in the folder. It never deletes the folder
the user is working in, a parent of it, or the out-dir itself.

One writer per run folder: a training run holds an OS advisory lock on `<run>/.lock` for its
whole life (`filelock`, which is `fcntl.flock` on POSIX and `msvcrt.locking` on Windows; the OS
releases it when the process dies, even by SIGKILL, so a killed run never leaves a stale lock).
A second writer gets a one-line error naming the folder. Readers (`generate`, `attention`) need
no lock: everything they read is replaced atomically.

    with open_run_folder(Path("runs/mine"), mode="new") as run_dir:   # or "resume", "overwrite"
        ...  # train, saving checkpoints (attnlab.runs.checkpoint) into run_dir
    # an error before the first checkpoint (state.json) removes what this start wrote
"""

from __future__ import annotations

import os
import re
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from filelock import FileLock, Timeout

from attnlab.io import save_json
from attnlab.errors import UserError

MARKER = ".attnlab"
LOCK = ".lock"
# What a run folder holds (see attnlab.runs.checkpoint), besides checkpoint folders and temp files.
RUN_ENTRIES = ("config.json", "tokenizer", "state.json", "model.safetensors", "optimizer.pt", "metrics.jsonl",
               "loss.png", "tensorboard", LOCK, MARKER,
               "grokking.json", "summary.json", "report.md", "grokking.png")  # the grokking lab's
CHECKPOINT_DIR = re.compile(r"checkpoint-\d+(-\w+)?$")  # checkpoint-000250, checkpoint-000250-3f2a
TEMP = re.compile(r"\..+\.(tmp|old)$")  # attnlab.io.atomic_write's and atomic_folder's temp names


def check_run_name(name: str) -> str:
    """A run name is one plain folder name: no separators, not '.', '..' or hidden."""
    if not name or name in (".", "..") or name.startswith(".") or "/" in name or "\\" in name \
            or os.sep in name or (os.altsep and os.altsep in name) or "\0" in name:
        raise UserError(f"--name {name!r} must be a plain folder name (no '/', no '..', not hidden)")
    return name


def is_attnlab_folder(path: Path) -> bool:
    return (path / MARKER).is_file()


def is_owned_entry(name: str) -> bool:
    """An entry attnlab writes in its folders (and so may delete there)."""
    return name in RUN_ENTRIES or bool(CHECKPOINT_DIR.match(name)) or bool(TEMP.match(name))


def foreign_entries(path: Path, owned=is_owned_entry) -> list[str]:
    return sorted(p.name for p in path.iterdir() if not owned(p.name))


def check_deletable(path: Path) -> None:
    """Refuse to delete in a folder that is not attnlab's, or that holds the working directory."""
    path = path.resolve()
    cwd = Path.cwd().resolve()
    if path == cwd or path in cwd.parents:
        raise UserError(f"refusing to delete files in {path}: it is the working directory or a parent of it")
    if not is_attnlab_folder(path):
        raise UserError(f"{path} was not created by attnlab (no {MARKER} marker); refusing to delete anything "
                         f"in it: pick another --name or --out")


def remove_entries(path: Path, names: list[str]) -> None:
    for name in names:
        entry = path / name
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        elif entry.exists() or entry.is_symlink():
            entry.unlink()


def _lock(path: Path) -> FileLock:
    lock = FileLock(str(path / LOCK), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise UserError(f"run folder {path} is in use by another attnlab process (it holds {path / LOCK}); "
                         f"wait for it to finish or pick another --name") from None
    return lock


def _claim(path: Path, mode: str) -> tuple[FileLock, bool]:
    """Create or take the folder and lock it -> (lock, created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
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
        # the marker first: a second start that sees the folder now waits on the lock, which
        # only one of them gets
        save_json(path / MARKER, {"written_by": "attnlab", "what": "run folder"})
        return _lock(path), created
    if not is_attnlab_folder(path):
        raise UserError(f"{path} exists and was not created by attnlab (no {MARKER} marker); pick another "
                         f"--name or --out (attnlab writes into and deletes only its own folders)")
    return _lock(path), created


@contextmanager
def open_run_folder(path: Path, mode: str) -> Iterator[Path]:
    """Take `path` for writing, locked for the life of the context.

    mode "new": a missing or empty folder, or one whose earlier start never reached its first
    checkpoint; "resume": a run with a checkpoint; "overwrite": a run folder whose attnlab files
    are deleted first. If the body fails before a checkpoint is committed, the files this start
    wrote are removed again (and the folder, when it is attnlab's).
    """
    marked_before = is_attnlab_folder(path)
    lock, created = _claim(path, mode)
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
            clean_stale(path)
        else:
            _empty(path)
        try:
            yield path
        except BaseException:
            if not (path / "state.json").is_file():  # no checkpoint: this start wrote it all, take it back
                _remove_owned(path)
                lock.release()
                remove_entries(path, [LOCK, MARKER])
                if ours and not any(path.iterdir()):
                    path.rmdir()
            raise
    finally:
        lock.release()


def _empty(path: Path) -> None:
    """Delete a previous run's files (--overwrite, or a start that never saved a checkpoint)."""
    foreign = foreign_entries(path)
    if foreign:
        raise UserError(f"{path} holds files attnlab did not write ({', '.join(foreign[:5])}); refusing to "
                         f"replace it: move them away or pick another --name")
    if [p for p in path.iterdir() if p.name not in (LOCK, MARKER)]:
        check_deletable(path)
        _remove_owned(path)


def _remove_owned(path: Path) -> None:
    remove_entries(path, [p.name for p in path.iterdir() if is_owned_entry(p.name) and p.name not in (LOCK, MARKER)])


def clean_stale(path: Path) -> None:
    """Remove what a killed save left behind: temp files, and checkpoint folders that
    state.json does not point at (see attnlab.runs.checkpoint)."""
    from attnlab.runs.checkpoint import committed_checkpoint_name

    keep = committed_checkpoint_name(path)
    stale = [p.name for p in path.iterdir()
             if TEMP.match(p.name) or (CHECKPOINT_DIR.match(p.name) and p.name != keep)]
    remove_entries(path, stale)
