"""Write a whole folder atomically: build it next to its destination, then rename it there.

    with atomic_folder("exported/tiny", overwrite=False) as tmp:
        (tmp / "config.json").write_text("{}")      # an error here leaves nothing behind
    # now exported/tiny/config.json exists, with attnlab's marker .attnlab beside it

An existing non-empty destination is refused unless `overwrite`, and even then only when it is
attnlab's (its `.attnlab` marker, see attnlab.runs.folder) and holds nothing attnlab did not write
there (the marker lists the files), so a typo in --out never deletes an unrelated folder.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from attnlab.io import current_umask, load_json, save_json
from attnlab.runs.folder import MARKER, check_deletable, foreign_entries, is_owned_entry
from attnlab.errors import UserError


def check_destination(out: str | os.PathLike, overwrite: bool) -> Path:
    """Refuse a destination that must not be replaced (checked before any work is done)."""
    out = Path(out)
    if out.exists():
        if not out.is_dir():
            raise UserError(f"{out} exists and is not a folder")
        if any(out.iterdir()):
            if not overwrite:
                raise UserError(f"{out} exists and is not empty (pass --overwrite to replace it)")
            check_deletable(out)
            foreign = foreign_entries(out, _owned_by_marker(out))
            if foreign:
                raise UserError(f"{out} holds files attnlab did not write ({', '.join(foreign[:5])}); refusing "
                                 f"to replace it: move them away or pick another --out")
    return out


def _owned_by_marker(folder: Path):
    """The marker of an exported folder lists its files; a training run's marker does not."""
    listed = load_json(folder / MARKER).get("files")
    if not isinstance(listed, list):
        return is_owned_entry
    return lambda name: name == MARKER or name in listed


@contextmanager
def atomic_folder(out: str | os.PathLike, overwrite: bool = False, what: str = "model folder") -> Iterator[Path]:
    """Yield an empty temp folder beside `out`; on success it replaces `out`, on error it is deleted."""
    out = check_destination(out, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        yield tmp
        files = sorted(p.name for p in tmp.iterdir())
        save_json(tmp / MARKER, {"written_by": "attnlab", "what": what, "files": files})
        os.chmod(tmp, 0o777 & ~current_umask())  # mkdtemp's folders are 0700
        check_destination(out, overwrite)  # nothing appeared there meanwhile
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
            os.replace(out, old / out.name)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
