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

A write that fails (a full disk, a file-size limit `ulimit -f`, a read-only folder) is one
UserError naming the file and the cause, e.g. `could not write runs/x/state.json: no space left
on device`; the temp file is removed and the target keeps its last complete version. torch.save
reports a full disk as `RuntimeError: ... unexpected pos ...`, without the cause, so the cause
is read off the disk and the process's limits (`write_failure`).

A read of a whole file (or of stdin) takes at most a stated number of bytes
(`read_bytes_limited`): `attnlab explain --json /dev/zero` is one line, not a MemoryError.

torch (and safetensors) are imported by the functions that need them: the run folder's checks
import this module when `attnlab train --help` starts, and torch takes over a second to load.
"""

from __future__ import annotations

import errno
import json
import math
import os
import pickle
import secrets
import stat
import sys
import warnings
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


MANIFEST_LIMIT = 4 * 2 ** 20  # bytes: a manifest holds a line per name attnlab made in one folder


def plain_name(name: object) -> bool:
    """Whether `name` is one entry directly inside a folder: a non-empty string with no separator,
    not '.' or '..', no NUL and no line break. A bookkeeping file's name that is not is ignored.

    >>> [plain_name(n) for n in ("checkpoint-000020-3f2a9c01", "..", "", "a/b", "/etc")]
    [True, False, False, False, False]
    """
    return (isinstance(name, str) and name not in ("", ".", "..") and "/" not in name and "\\" not in name
            and os.sep not in name and not (os.altsep and os.altsep in name) and "\0" not in name
            and "\n" not in name and "\r" not in name)


def check_bookkeeping_file(path: str | os.PathLike) -> None:
    """A bookkeeping file of attnlab's (marker, manifest, lock, state.json) that is there must be a
    regular file, not a symlink (attnlab would read or write what it points at) nor a device."""
    path = Path(path)
    if path.is_symlink() or (os.path.lexists(path) and not path.is_file()):
        raise UserError(f"{path} is {'a symlink' if path.is_symlink() else 'not a regular file'}; attnlab "
                        f"reads and writes its bookkeeping only in plain files: remove it or pick another folder")


def warn_ignored(path: Path, name: object) -> None:
    print(f"attnlab: warning: {path} lists {name!r}, which is not a plain name inside the folder; ignored",
          file=sys.stderr)


def read_manifest(folder: str | os.PathLike) -> dict[str, bool] | None:
    """The names recorded in folder's manifest -> whether each is a temp name (None: the folder
    keeps no manifest). Only plain names count (`plain_name`): any other entry is ignored, named
    in a warning, so no entry can point outside the folder or at the folder itself."""
    path = Path(folder) / MANIFEST
    check_bookkeeping_file(path)
    try:
        lines = read_bytes_limited(path, MANIFEST_LIMIT, "the manifest").split(b"\n")[:-1]  # last: "" or cut
    except FileNotFoundError:
        return None
    names: dict[str, bool] = {}
    for line in lines:
        try:
            entry = json.loads(line)
        except (ValueError, UnicodeDecodeError):
            continue
        if not isinstance(entry, dict) or "name" not in entry:
            continue
        if not plain_name(entry["name"]):
            warn_ignored(path, entry["name"])
            continue
        names[entry["name"]] = names.get(entry["name"], False) or entry.get("temp") is True
    return names


def manifest_line(name: str, temp: bool = False) -> str:
    return json.dumps({"name": name, "temp": True} if temp else {"name": name}) + "\n"


def record_name(folder: str | os.PathLike, name: str, temp: bool = False) -> None:
    """Append `name` to folder's manifest, if the folder keeps one (call it before creating the
    name); `temp`: a name that only a crash leaves behind (the next start removes it)."""
    path = Path(folder) / MANIFEST
    if not plain_name(name):
        raise UserError(f"{name!r} cannot be recorded in {path}: not a plain name inside the folder")
    try:  # never creates the manifest, never follows a symlink to another file
        fd = os.open(path, os.O_RDWR | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        return
    except OSError:
        check_bookkeeping_file(path)  # a symlink: one line
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        check_bookkeeping_file(path)
    try:
        size = os.fstat(fd).st_size
        # a line cut short by a failed write (a full disk) must not swallow this one
        cut = size > 0 and os.lseek(fd, size - 1, os.SEEK_SET) >= 0 and os.read(fd, 1) != b"\n"
        data = (("\n" if cut else "") + manifest_line(name, temp)).encode("utf-8")
        while data:  # a nearly full disk may take part of it: write the rest, or fail
            data = data[os.write(fd, data):]
    except OSError as exc:
        raise write_failure(path, exc) from None
    finally:
        os.close(fd)


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


# errno -> the cause, in the words a message uses
WRITE_CAUSES = {errno.ENOSPC: "no space left on device", errno.EFBIG: "file too large",
                errno.EDQUOT: "disk quota exceeded", errno.EROFS: "read-only file system",
                errno.EACCES: "permission denied", errno.EPERM: "operation not permitted",
                errno.EIO: "input/output error"}
LOW_SPACE = 1 << 20  # under this many free bytes after a failed write, the disk was full


def _write_errno(exc: BaseException, tmp: str | os.PathLike | None) -> int | None:
    """The errno behind a failed write: an OSError's own, safetensors' `(os error 28)`, or for
    torch.save's `unexpected pos` (no errno at all) what the file-size limit and the disk say."""
    import re

    if isinstance(exc, OSError) and exc.errno is not None:
        return exc.errno
    found = re.search(r"os error (\d+)", str(exc))
    if found:
        return int(found.group(1))
    if tmp is not None:
        size = os.path.getsize(tmp) if os.path.exists(tmp) else 0
        limit = file_size_limit()
        if limit is not None and size >= limit:
            return errno.EFBIG
        try:
            disk = os.statvfs(Path(tmp).parent)
        except (OSError, AttributeError):  # Windows has no statvfs
            return None
        if disk.f_bavail * disk.f_frsize < LOW_SPACE:
            return errno.ENOSPC
    return None


def file_size_limit() -> int | None:
    """The process's file-size limit in bytes (`ulimit -f`), None when there is none."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    return None if soft == resource.RLIM_INFINITY else soft


def write_failure(path: str | os.PathLike, exc: BaseException, tmp: str | os.PathLike | None = None) -> UserError:
    """A failed write of `path` as one line naming the file and the cause.

    >>> str(write_failure("runs/x/state.json", OSError(28, "No space left on device")))
    'could not write runs/x/state.json: no space left on device'
    """
    code = _write_errno(exc, tmp)
    cause = WRITE_CAUSES.get(code) if code is not None else None
    if cause is None:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        cause = os.strerror(code).lower() if code is not None else first
    if code == errno.EFBIG and file_size_limit() is not None:
        cause += f" (the file-size limit, ulimit -f, is {file_size_limit()} bytes)"
    return UserError(f"could not write {path}: {cause}", code="write_failed")


def _library_write_errors() -> tuple[type[BaseException], ...]:
    """What torch.save, safetensors and matplotlib raise when the file cannot be written."""
    errors: list[type[BaseException]] = [OSError, RuntimeError]
    try:
        from safetensors import SafetensorError
        errors.append(SafetensorError)
    except ImportError:
        pass
    return tuple(errors)


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Call `write(tmp_path)`, then rename tmp_path to `path` (atomic on POSIX and Windows). A
    write the disk refused (full, a size limit, read-only, ...: WRITE_CAUSES) is a UserError
    (see write_failure); any failure leaves `path` as it was."""
    path = Path(path)
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = str(new_temp(path.parent, f".{path.name}.", ".tmp"))
        write(tmp)
        os.chmod(tmp, 0o666 & ~current_umask())
        _fsync(tmp)
        os.replace(tmp, path)
        _fsync(path.parent)  # the rename itself reaches the disk
    except UserError:
        _unlink_quietly(tmp)
        raise
    except _library_write_errors() as exc:
        if _write_errno(exc, tmp) not in WRITE_CAUSES:  # not the disk's fault: a missing folder, a bug
            _unlink_quietly(tmp)
            raise
        failure = write_failure(path, exc, tmp)
        _unlink_quietly(tmp)
        raise failure from None
    except BaseException:
        _unlink_quietly(tmp)
        raise
    return path


def _unlink_quietly(tmp: str | None) -> None:
    if tmp is not None and os.path.exists(tmp):
        os.unlink(tmp)


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


def finite(value: Any) -> Any:
    """`value` with every NaN, inf and -inf inside it (lists, tuples, dicts) replaced by None, so
    that json.dumps writes strict JSON (Python would write `NaN`, which no JSON reader takes).

    >>> finite({"loss": float("nan"), "p": (0.5, float("-inf"))})
    {'loss': None, 'p': [0.5, None]}
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def strict_json(data: Any) -> tuple[str, int]:
    """(JSON text, how many numbers were not finite): NaN and the infinities become null (`finite`).

    >>> strict_json({"loss": float("nan"), "p": [0.5, float("inf")]})
    ('{"loss": null, "p": [0.5, null]}', 2)
    """
    def non_finite(value: Any) -> int:
        if isinstance(value, float):
            return 0 if math.isfinite(value) else 1
        if isinstance(value, dict):
            value = list(value.values())
        return sum(map(non_finite, value)) if isinstance(value, (list, tuple)) else 0

    return json.dumps(finite(data), ensure_ascii=False, allow_nan=False), non_finite(data)


JSON_LIMIT = 64 * 2**20  # a config.json, an explain --json file, a tokenizer.json: far below this


def _limit_text(limit: int) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if limit >= size and limit % size == 0:
            return f"{limit // size} {unit}"
    return f"{limit} bytes"


def read_stream_limited(stream: Any, limit: int, what: str) -> bytes:
    """Up to `limit` bytes of a binary stream (stdin's buffer), to its end; more is a UserError
    naming the limit (`yes | attnlab train --corpus -` never ends)."""
    chunks, size = [], 0
    while True:
        chunk = stream.read(min(1 << 20, limit + 1 - size))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise UserError(f"{what} is longer than {_limit_text(limit)}, the most attnlab reads from it",
                            code="too_large")


def read_bytes_limited(path: str | os.PathLike, limit: int, what: str) -> bytes:
    """The bytes of a file, if it holds at most `limit` (a device such as /dev/zero, a fifo or an
    endless file is read only up to the limit, then refused in one line naming it).

    >>> read_bytes_limited("/dev/zero", 1000, "the --json file")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    attnlab.errors.UserError: the --json file /dev/zero is longer than 1000 bytes, ...
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{what} {path} is a folder, not a file")
    with open(path, "rb") as f:
        try:
            return read_stream_limited(f, limit, f"{what} {path}")
        except UserError as exc:
            raise UserError(f"{exc}; use a smaller file", code="too_large") from None


def read_text_limited(path: str | os.PathLike, limit: int, what: str, encoding: str = "utf-8") -> str:
    """read_bytes_limited, decoded (a file that is not `encoding` text is a UnicodeDecodeError)."""
    return read_bytes_limited(path, limit, what).decode(encoding)


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
        return json.loads(read_text_limited(path, JSON_LIMIT, "the JSON file"))
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
        with warnings.catch_warnings():  # torch warns twice about a foreign pickle before refusing it
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise UserError(f"{path} could not be loaded safely: it holds pickled Python objects, not only "
                        f"tensors and numbers, and attnlab never runs a pickle") from None
    except Exception as exc:  # RuntimeError for a bad zip
        first = str(exc).splitlines()[0] if str(exc) else "corrupted"
        raise UserError(f"{path} could not be loaded safely ({type(exc).__name__}: {first})") from None
