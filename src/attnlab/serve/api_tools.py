"""What the web lab adds to the why tools it runs (serve/panels.py's TOOLS): each text a string of
at most api.MAX_TEXT characters, within its panel's token cap on the model (limits.py), and the
page's own forms read as settings. The settings themselves are checked by the tool's dataclass,
as the command's flags are, and the answer is the tool's run: `POST /api/patch` is `attnlab patch
--json` (labs/patching), `POST /api/lens` is `attnlab lens --json` (labs/lens), `POST /api/ablate`
is `attnlab ablate --text TEXT --top 10 --json` (labs/ablation), `POST /api/attribute` is `attnlab
attribute --json` (labs/attribution), on the run the page has open; `POST /api/why` is `attnlab why
--json` (labs/why), on the run or on MiniLM.
"""

from __future__ import annotations

import networkx  # noqa: F401 (why.rollout imports it when first used: here, before any thread)

# The tools' runs, imported here, once, before any request thread: a Lab imports its run on first
# use, and two threads importing the same package at the same moment can fail (see api.py).
import attnlab.labs.ablation.run  # noqa: F401
import attnlab.labs.attribution.run  # noqa: F401
import attnlab.labs.lens.run  # noqa: F401
import attnlab.labs.patching.run  # noqa: F401
import attnlab.labs.why.run  # noqa: F401
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


def check_why(settings, shared: Shared) -> None:
    """The text within the why panel's token cap (the attention-flow graph grows with T²)."""
    encode(shared, text_arg({"text": settings.text}), panel="why")


WHY_KEYS = {"from": "from_position", "to": "to_position", "vs": "vs_position"}


def why_request(body: dict) -> dict:
    """The page names the tokens by position, "from", "to" and "vs"; `attnlab why` by what they read
    (--from it), or by position with --from-position and the like: the page's keys as those."""
    return {WHY_KEYS.get(k, k): v for k, v in body.items()}
