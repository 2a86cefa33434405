"""`/api/patch`: the web lab's Patch panel runs the patch tool (attnlab.labs.patching), the object
`attnlab patch --json` prints, on the run the page has open.

Request (besides the model): "clean", "corrupt" (texts of the same token length) and any other
setting of `attnlab patch` ("points": a list from resid, attn, mlp, heads, heads-pos, default all
four but mlp for an attention-only model; "position", default the last; "direction", "method",
"answer", "wrong", "path", "path_ablate"). The settings are checked by PatchSettings as the
command's flags are; here only what the web lab adds: each text is a string of at most
api.MAX_TEXT characters and within one forward's token cap (limits.py).
"""

from __future__ import annotations

from attnlab.serve.api import encode, text_arg
from attnlab.serve.store import Shared


def check_texts(settings, shared: Shared) -> None:
    """Both texts within the web lab's limits (their length, their tokens on this model)."""
    for name in ("clean", "corrupt"):
        text = text_arg({name: getattr(settings, name)}, name)
        encode(shared, text)
