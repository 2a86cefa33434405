"""Write a whole folder atomically: build it next to its destination, then rename it there.

    with atomic_folder("exported/tiny", overwrite=False) as tmp:
        (tmp / "config.json").write_text("{}")      # an error here leaves nothing behind
    # now exported/tiny/config.json exists

An existing non-empty destination is refused unless `overwrite`, and even then only when it
holds `marker` (so a typo in --out never deletes an unrelated folder).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def check_destination(out: str | os.PathLike, overwrite: bool, marker: str = "config.json") -> Path:
    """Refuse a destination that must not be replaced (checked before any work is done)."""
    out = Path(out)
    if out.exists():
        if not out.is_dir():
            raise ValueError(f"{out} exists and is not a folder")
        if any(out.iterdir()):
            if not overwrite:
                raise ValueError(f"{out} exists and is not empty (pass --overwrite to replace it)")
            if not (out / marker).is_file():
                raise ValueError(f"{out} exists and has no {marker}; refusing to replace a folder that "
                                 f"was not written by attnlab or transformers")
    return out


@contextmanager
def atomic_folder(out: str | os.PathLike, overwrite: bool = False,
                  marker: str = "config.json") -> Iterator[Path]:
    """Yield an empty temp folder beside `out`; on success it replaces `out`, on error it is deleted."""
    out = check_destination(out, overwrite, marker)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        yield tmp
        check_destination(out, overwrite, marker)  # nothing appeared there meanwhile
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
