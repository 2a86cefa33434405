"""Strict JSON out: every answer parses with any JSON reader, whatever numbers a model gave.

Python's json writes NaN and Infinity, which are not JSON; Starlette's JSONResponse refuses
them (a ValueError, which was a 500). Here a non-finite float becomes null, as the CLI's
`--json` writes it, and nothing else changes.

>>> strict_dumps({"p": [0.5, float("nan")], "loss": float("inf"), "name": "é"})
b'{"p":[0.5,null],"loss":null,"name":"\\xc3\\xa9"}'
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import JSONResponse

from attnlab.io import finite


def strict_dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON of `value`, non-finite numbers as null."""
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except ValueError:  # a NaN or an infinity somewhere: walk the data once more, only then
        text = json.dumps(finite(value), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.encode("utf-8")


class StrictJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return strict_dumps(content)
