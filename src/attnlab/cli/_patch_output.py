"""What `attnlab patch` and `attnlab attribute` share: the answer tokens, where output may go,
strict JSON, and the terminal table (layers x positions, the tokens as column heads).
Nothing here imports torch at import time."""

from __future__ import annotations

import json
from pathlib import Path

from attnlab.errors import UserError
from attnlab.io import finite

CELL = 6  # characters per column of a table


def one_token(source, text: str | None, flag: str) -> int | None:
    """The id of the one token `text` makes (None: not given); anything else is a UserError."""
    if text is None:
        return None
    if text == "":
        raise UserError(f"{flag} is empty; give the text of one token")
    try:
        ids = source.tokenizer.encode(text)
    except UserError as exc:
        raise UserError(f"{flag} {text!r}: the tokenizer cannot make it ({exc})") from None
    if len(ids) != 1:
        raise UserError(f"{flag} {text!r} is {len(ids)} tokens for this tokenizer, not one: "
                        f"the logit difference compares two single tokens")
    return ids[0]


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


def format_table(title: str, rows: list[str], cols: list[str], values: list[list[float | None]]) -> str:
    """A table with `rows` down the side and `cols` (e.g. the tokens) as column heads."""
    from attnlab.viz.terminal import fit

    side = max(len(r) for r in rows)
    lines = [title, " " * side + " " + "".join(fit(c, CELL - 1).rjust(CELL - 1) + " " for c in cols)]
    for name, row in zip(rows, values):
        cells = "".join(("-" if v is None else f"{v:.2f}").rjust(CELL - 1) + " " for v in row)
        lines.append(f"{name:>{side}} {cells}")
    return "\n".join(lines)
