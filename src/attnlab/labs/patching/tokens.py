"""What `attnlab patch` and `attnlab attribute` share: the answer tokens and the terminal table
(layers x positions, the tokens as column heads). Nothing here imports torch at import time."""

from __future__ import annotations

from attnlab.errors import UserError

CELL = 6  # characters per column of a table


def one_token(source, text: str | None, flag: str) -> int | None:
    """The id of the one token `text` makes (None: not given); anything else is a UserError."""
    if text is None:
        return None
    if text == "":
        raise UserError(f"{flag} is empty; give the text of one token", code="bad_value")
    try:
        ids = source.tokenizer.encode(text)
    except UserError as exc:
        raise UserError(f"{flag} {text!r}: the tokenizer cannot make it ({exc})", code="bad_value") from None
    if len(ids) != 1:
        raise UserError(f"{flag} {text!r} is {len(ids)} tokens for this tokenizer, not one: "
                        f"the logit difference compares two single tokens", code="bad_value")
    return ids[0]


def format_table(title: str, rows: list[str], cols: list[str], values: list[list[float | None]]) -> str:
    """A table with `rows` down the side and `cols` (e.g. the tokens) as column heads."""
    from attnlab.viz.terminal import fit

    side = max(len(r) for r in rows)
    lines = [title, " " * side + " " + "".join(fit(c, CELL - 1).rjust(CELL - 1) + " " for c in cols)]
    for name, row in zip(rows, values):
        cells = "".join(("-" if v is None else f"{v:.2f}").rjust(CELL - 1) + " " for v in row)
        lines.append(f"{name:>{side}} {cells}")
    return "\n".join(lines)
