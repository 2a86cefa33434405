"""What `attnlab patch` and `attnlab attribute` share: where output may go and strict JSON (the
answer tokens and the terminal table are the labs': attnlab.labs.patching.tokens). Nothing here
imports torch at import time."""

from __future__ import annotations

import json
from pathlib import Path

from attnlab.errors import UserError
from attnlab.io import finite


def check_outside(path: str | None, run: str | None) -> None:
    """A picture or page is never written into the run folder being read (a command never writes
    into its own input)."""
    if path is None or run is None:
        return
    folder, target = Path(run).resolve(), Path(path).resolve()
    if folder == target or folder in target.parents:
        raise UserError(f"{path} is inside the run folder {run}: a command never writes into its own input; "
                        f"write it somewhere else")


def dumps(value) -> str:
    return json.dumps(finite(value), ensure_ascii=False, allow_nan=False)
