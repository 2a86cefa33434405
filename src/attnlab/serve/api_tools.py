"""What the web lab adds to the why tools it runs (serve/panels.py's TOOLS): each text a string of
at most api.MAX_TEXT characters, within its panel's token cap on the model (limits.py). The
settings themselves are checked by the tool's dataclass, as the command's flags are, and the
answer is the tool's run: `POST /api/patch` is `attnlab patch --json` (labs/patching), `POST
/api/lens` is `attnlab lens --json` (labs/lens), on the run the page has open.
"""

from __future__ import annotations

from attnlab.serve.api import encode, need_gpt, text_arg
from attnlab.serve.store import Shared


def check_patch(settings, shared: Shared) -> None:
    """Both texts within one forward's token cap."""
    need_gpt(shared, "activation patching")
    for name in ("clean", "corrupt"):
        encode(shared, text_arg({name: getattr(settings, name)}, name))


def check_lens(settings, shared: Shared) -> None:
    """The text within the lens's token cap, at least two tokens long."""
    need_gpt(shared, "the logit lens")
    encode(shared, text_arg({"text": settings.text}), at_least=2, panel="lens")
