"""Write a whole folder atomically: build it next to its destination, then rename it there.

    with atomic_folder("exported/tiny", overwrite=False) as tmp:
        (tmp / "config.json").write_text("{}")      # an error here leaves nothing behind
    # now exported/tiny/config.json exists, with attnlab's marker .attnlab beside it

An existing non-empty destination is refused unless `overwrite`, and even then only when it is
attnlab's folder of the same kind (its `.attnlab` marker, see attnlab.runs.folder) and holds
nothing attnlab did not write there (the marker lists the files), so a typo in --out never
deletes an unrelated folder. A command never writes into its own input: `check_apart` refuses a
destination that is the source, inside it, or holds it.
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from attnlab.errors import UserError
from attnlab.io import WRITE_CAUSES, new_temp, save_json, write_failure
from attnlab.runs.folder import MARKER, check_deletable, foreign_entries, read_marker


def check_apart(source: str | os.PathLike, destination: str | os.PathLike) -> None:
    """Refuse a destination that is the source folder, inside it, or a folder that holds it
    (both resolved: `.`, `..` and symlinks followed)."""
    src, dst = Path(source).resolve(), Path(destination).resolve()
    if src == dst or src in dst.parents or dst in src.parents:
        where = "is" if src == dst else "is inside" if src in dst.parents else "holds"
        raise UserError(f"--out {destination} {where} the input {source}: a command never writes into its "
                         f"own input; pick another --out")


def check_destination(out: str | os.PathLike, overwrite: bool, what: str = "model folder") -> Path:
    """Refuse a destination that must not be replaced (checked before any work is done)."""
    out = Path(out)
    if out.exists():
        if not out.is_dir():
            raise UserError(f"{out} exists and is not a folder")
        if any(out.iterdir()):
            if not overwrite:
                raise UserError(f"{out} exists and is not empty (pass --overwrite to replace it)")
            check_deletable(out)
            kind = read_marker(out).get("what", "run folder")
            if kind != what:
                raise UserError(f"{out} is an attnlab {kind}; refusing to replace it with the {what}: pick "
                                 f"another --out")
            foreign = foreign_entries(out)
            if foreign:
                raise UserError(f"{out} holds files attnlab did not write ({', '.join(foreign[:5])}); refusing "
                                 f"to replace it: move them away or pick another --out")
    return out


@contextmanager
def atomic_folder(out: str | os.PathLike, overwrite: bool = False, what: str = "model folder") -> Iterator[Path]:
    """Yield an empty temp folder beside `out`; on success it replaces `out`, on error it is deleted."""
    out = check_destination(out, overwrite, what)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = new_temp(out.parent, f".{out.name}.", ".tmp", is_dir=True)
    try:
        yield tmp
        files = sorted(p.name for p in tmp.iterdir())
        save_json(tmp / MARKER, {"written_by": "attnlab", "what": what, "files": files})
        check_destination(out, overwrite, what)  # nothing appeared there meanwhile
        if out.exists():
            old = new_temp(out.parent, f".{out.name}.", ".old", is_dir=True)
            os.replace(out, old / out.name)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except (UserError, OSError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if exc.code != "write_failed" if isinstance(exc, UserError) else exc.errno not in WRITE_CAUSES:
            raise  # a bad input, or a file to read that is missing
        cause = exc if isinstance(exc, UserError) else write_failure(out, exc)
        kept = "it keeps what it held" if out.exists() else "nothing was written there"
        raise UserError(f"{cause}; {out}: {kept}", code="write_failed") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
