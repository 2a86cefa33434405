"""What the web lab adds to the why tools it runs (serve/panels.py's TOOLS): each text a string of
at most api.MAX_TEXT characters, within its panel's token cap on the model (limits.py), and the
page's own forms read as settings. The settings themselves are checked by the tool's dataclass,
as the command's flags are, and the answer is the tool's run: `POST /api/patch` is `attnlab patch
--json` (labs/patching), `POST /api/lens` is `attnlab lens --json` (labs/lens), `POST /api/ablate`
is `attnlab ablate --text TEXT --top 10 --json` (labs/ablation), `POST /api/attribute` is `attnlab
attribute --json` (labs/attribution), on the run the page has open; `POST /api/why` is `attnlab why
--json` (labs/why), on the run or on MiniLM; `POST /api/next` is `attnlab next --json` and `POST
/api/generate` streams the text `attnlab generate` prints (labs/sampling), within the web lab's
caps on sampling (SAMPLING).
"""

from __future__ import annotations

import networkx  # noqa: F401 (why.rollout imports it when first used: here, before any thread)

# The tools' runs, imported here, once, before any request thread: a Lab imports its run on first
# use, and two threads importing the same package at the same moment can fail (see api.py).
import attnlab.labs.ablation.run  # noqa: F401
import attnlab.labs.attribution.run  # noqa: F401
import attnlab.labs.lens.run  # noqa: F401
import attnlab.labs.patching.run  # noqa: F401
import attnlab.labs.sampling.run  # noqa: F401
import attnlab.labs.why.run  # noqa: F401
from attnlab.errors import UserError
from attnlab.serve.api import encode, need_gpt, text_arg
from attnlab.serve.store import Shared

MAX_HEADS = 4096  # [layer, head] pairs in one request (a model's heads are checked by the run)
MAX_NEW_TOKENS = 400  # tokens one generation request may ask for
SAMPLING = {"temperature": 5.0, "seed": 2 ** 31 - 1}  # the most the page sends of each
# What a request leaves out means what it meant before the commands' settings were the web lab's:
# every token kept at temperature 1 (the commands' defaults are generate's: 0.8, top-k 200).
PAGE_DEFAULTS = {"temperature": 1.0, "top_k": None, "top_p": 1.0}
GENERATION_DEFAULTS = {**PAGE_DEFAULTS, "max_new_tokens": 200, "seed": 0}


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


def sampling_request(body: dict, defaults: dict = PAGE_DEFAULTS) -> dict:
    """The page sends the prompt as "text", and leaves out what `defaults` give; a number too large
    for a float (JSON's integers have no limit: 10**400) is refused here, as no temperature or top-p."""
    if "text" in body and "prompt" in body:
        raise UserError('send the prompt once, as "text" (or "prompt")', code="bad_value")
    for name in ("temperature", "top_p"):
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 1e308:
            raise UserError(f'"{name}" must be a finite number', code="bad_type")
    return {**defaults, **{"prompt" if k == "text" else k: v for k, v in body.items()}}


def generate_request(body: dict) -> dict:
    """As sampling_request, with a generation's defaults: 200 new tokens, seed 0."""
    return sampling_request(body, GENERATION_DEFAULTS)


def check_sampling(settings, shared: Shared) -> None:
    """What the page may ask of sampling beyond the settings' own checks: top-k within the vocabulary,
    a temperature and a seed within SAMPLING."""
    V = shared.source.model.config.vocab_size
    if settings.top_k is not None and settings.top_k > V:
        raise UserError(f'"top_k" is {settings.top_k}; it must be in 1..{V} (or 0 or null: every token)',
                        code="out_of_range")
    for name, most in SAMPLING.items():
        value = getattr(settings, name, None)
        if value is not None and value > most:
            raise UserError(f'"{name}" is {value}; it must be at most {most}', code="out_of_range")


def check_next(settings, shared: Shared) -> None:
    """The prompt within one forward's token cap, and the page's caps on sampling."""
    need_gpt(shared, "sampling")
    encode(shared, text_arg({"text": settings.prompt}))
    check_sampling(settings, shared)


def check_generate(settings, shared: Shared) -> None:
    """A prompt of at least one token, at most MAX_NEW_TOKENS new ones, and the page's caps on sampling."""
    need_gpt(shared, "generation")
    prompt = text_arg({"text": settings.prompt})
    if not prompt:
        raise UserError("the prompt is empty", code="empty_text")
    if not shared.source.token_ids(prompt):
        raise UserError("the prompt gives no tokens", code="empty_text")
    if not 1 <= settings.max_new_tokens <= MAX_NEW_TOKENS:
        raise UserError(f'"max_new_tokens" is {settings.max_new_tokens}; it must be in 1..{MAX_NEW_TOKENS}',
                        code="out_of_range")
    check_sampling(settings, shared)
