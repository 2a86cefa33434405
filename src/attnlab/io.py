"""Safe file writing and reading: every write goes to a temp file in the same folder, is flushed
to disk, then is renamed over the target, so a crash, a kill or Ctrl-C never leaves a
half-written file behind. Files get the user's usual permissions (the umask).

The manifest: a folder attnlab owns (a run folder, see attnlab.runs.folder) keeps a file
`.attnlab-files` listing every name attnlab created there besides the folder's fixed names, one
JSON object a line: `{"name": "checkpoint-000500-3f2a9c01", "temp": true}` for checkpoint
folders and the temp files of atomic writes (what a crash leaves behind), `{"name": "layers-2"}`
for a lab's subfolders. A name is appended *before* it is created (`new_temp`), so whatever a
crash leaves behind is on the list and attnlab can prove it wrote it; a name not on the list (a
user's `.notes.old`) is never deleted. A line cut short by a kill is ignored: its file was never
made.

torch (and safetensors) are imported by the functions that need them: the run folder's checks
import this module when `attnlab train --help` starts, and torch takes over a second to load.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from attnlab.errors import UserError

if TYPE_CHECKING:
    import torch


def current_umask() -> int:
    """The process's umask (reading it means setting it: set it straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


MANIFEST = ".attnlab-files"


def read_manifest(folder: str | os.PathLike) -> dict[str, bool] | None:
    """The names recorded in folder's manifest -> whether each is a temp name (None: the folder
    keeps no manifest)."""
    try:
        lines = (Path(folder) / MANIFEST).read_bytes().split(b"\n")[:-1]  # the last piece: "" or cut short
    except FileNotFoundError:
        return None
    names: dict[str, bool] = {}
    for line in lines:
        try:
            entry = json.loads(line)
        except (ValueError, UnicodeDecodeError):
            continue
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            names[entry["name"]] = names.get(entry["name"], False) or entry.get("temp") is True
    return names


def manifest_line(name: str, temp: bool = False) -> str:
    return json.dumps({"name": name, "temp": True} if temp else {"name": name}) + "\n"


def record_name(folder: str | os.PathLike, name: str, temp: bool = False) -> None:
    """Append `name` to folder's manifest, if the folder keeps one (call it before creating the
    name); `temp`: a name that only a crash leaves behind (the next start removes it)."""
    try:
        fd = os.open(Path(folder) / MANIFEST, os.O_WRONLY | os.O_APPEND)  # never creates the manifest
    except FileNotFoundError:
        return
    with os.fdopen(fd, "a", encoding="utf-8") as f:
        f.write(manifest_line(name, temp))


def new_temp(folder: str | os.PathLike, prefix: str, suffix: str = "", is_dir: bool = False) -> Path:
    """Create a fresh file (or folder) `prefix + 8 random hex digits + suffix` in `folder`,
    its name recorded in the folder's manifest first, as a temp name (see the module docstring)."""
    folder = Path(folder)
    for _ in range(100):
        path = folder / f"{prefix}{secrets.token_hex(4)}{suffix}"
        if os.path.lexists(path):
            continue
        record_name(folder, path.name, temp=True)
        if is_dir:
            os.mkdir(path)  # the umask gives the usual permissions
        else:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        return path
    raise FileExistsError(f"no free temp name {prefix}*{suffix} in {folder}")


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Call `write(tmp_path)`, then rename tmp_path to `path` (atomic on POSIX and Windows)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = str(new_temp(path.parent, f".{path.name}.", ".tmp"))
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~current_umask())
        _fsync(tmp)
        os.replace(tmp, path)
        _fsync(path.parent)  # the rename itself reaches the disk
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _fsync(path: str | os.PathLike) -> None:
    """Flush a file (or a folder's entries) to the disk; folders cannot be opened on Windows."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save_json(path: str | os.PathLike, data: Any) -> Path:
    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, ensure_ascii=False)
            f.write("\n")

    return atomic_write(path, write)


def load_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path} is not valid JSON ({exc})") from None


def save_tensors(path: str | os.PathLike, tensors: dict[str, torch.Tensor],
                 metadata: dict[str, str] | None = None) -> Path:
    """Save a flat dict of tensors as safetensors (no pickle), atomically. Shared storage
    (e.g. a tied lm_head) must be removed by the caller first."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    return atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))


def load_tensors(path: str | os.PathLike, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """Load a safetensors file; a missing, truncated or corrupted file is a one-line ValueError."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found")
    try:
        return load_file(str(path), device=str(device))
    except (SafetensorError, OSError, RuntimeError) as exc:
        raise UserError(f"{path} is not a valid safetensors file ({exc})") from None


def save_torch(path: str | os.PathLike, obj: Any) -> Path:
    """torch.save atomically (for optimizer state: plain tensors and numbers only)."""
    import torch

    return atomic_write(path, lambda tmp: torch.save(obj, tmp))


def load_torch(path: str | os.PathLike) -> Any:
    """torch.load with weights_only=True: a file carrying a pickled object is refused, never run."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError for a pickle payload, RuntimeError for a bad zip
        raise UserError(f"{path} could not be loaded safely ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else 'corrupted'})") from None
