"""What the web lab adds to the why tools it runs (serve/panels.py's TOOLS): each text a string of
at most api.MAX_TEXT characters, within its panel's token cap on the model (limits.py), and the
page's own forms read as settings. The settings themselves are checked by the tool's dataclass,
as the command's flags are, and the answer is the tool's run: `POST /api/patch` is `attnlab patch
--json` (labs/patching), `POST /api/lens` is `attnlab lens --json` (labs/lens), `POST /api/ablate`
is `attnlab ablate --text TEXT --top 10 --json` (labs/ablation), `POST /api/attribute` is `attnlab
attribute --json` (labs/attribution), on the run the page has open.
"""

from __future__ import annotations

from attnlab.errors import UserError
from attnlab.serve.api import encode, need_gpt, text_arg
from attnlab.serve.store import Shared

MAX_HEADS = 4096  # [layer, head] pairs in one request (a model's heads are checked by the run)


def check_patch(settings, shared: Shared) -> None:
    """Both texts within one forward's token cap."""
    need_gpt(shared, "activation patching")
    for name in ("clean", "corrupt"):
        encode(shared, text_arg({name: getattr(settings, name)}, name))


def check_lens(settings, shared: Shared) -> None:
    """The text within the lens's token cap, at least two tokens long."""
    need_gpt(shared, "the logit lens")
    encode(shared, text_arg({"text": settings.text}), at_least=2, panel="lens")


def check_ablate(settings, shared: Shared) -> None:
    """The text within the ablate panel's token cap (the per-head rows cost two forwards a head)."""
    need_gpt(shared, "head ablation")
    encode(shared, text_arg({"text": settings.text}), at_least=2, panel="ablate" if settings.each else "ablate_set")


def check_attribute(settings, shared: Shared) -> None:
    """The text within one forward's token cap (the parts are read from that forward)."""
    need_gpt(shared, "direct logit attribution")
    encode(shared, text_arg({"text": settings.text}))


def ablate_request(body: dict) -> dict:
    """The page sends "heads" as [[layer, head], ...] (none: []), `--heads` takes "0.1,2.3": the
    pairs, each two integers, as that text. The set is always measured, as the page shows it."""
    value = body.get("heads", [])
    if not isinstance(value, list) or len(value) > MAX_HEADS:
        raise UserError('"heads" must be a list of [layer, head] pairs', code="bad_type")
    for pair in value:
        if not (isinstance(pair, list) and len(pair) == 2
                and all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in pair)):
            raise UserError('"heads" must be a list of [layer, head] pairs of integers from 0', code="bad_type")
    return {**body, "heads": ",".join(f"{layer}.{head}" for layer, head in value)}
