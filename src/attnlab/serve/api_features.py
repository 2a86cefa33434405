"""`/api/features`: the web lab's Features panel, the data of `attnlab features`.

POST {"run": NAME, "sae": FOLDER (optional), "kind": "feature" | "neuron", "unit": I (optional),
"text": TEXT (optional), "top": N (default 40)} ->
{"sae": null, "note"} for a run without an SAE; else {"sae", "summary", "listing": the N densest units [{"unit", "density", "specificity", "promotes"}],
 "detail": {"density", "specificity", "histogram", "contexts", "promotes", "suppresses"} (with "unit"),
 "fire": [{"token", "units": [{"unit", "value"}]}] (with "text": the units most active at each token)}.

The browser of a run's SAE (its activations over the run's validation text) is built on the first
request, under the model's lock, and kept: its checkpoint and the SAE's are part of the key, so
a run trained further or an SAE trained again is measured anew.
"""

from __future__ import annotations

import threading

from attnlab.errors import UserError
from attnlab.labs.sae.browse import Browser
from attnlab.labs.sae.features import assemble
from attnlab.labs.sae.lab import find_sae, open_browser
from attnlab.labs.sae.settings import KINDS
from attnlab.runs.folder import committed_checkpoint_name
from attnlab.serve.api import encode, int_arg, need_gpt, text_arg
from attnlab.serve.store import Shared

TOKENS = 8192  # validation tokens the panel measures on


def kind_arg(body: dict) -> str:
    value = body.get("kind", "feature")
    if value not in KINDS:
        raise UserError(f'"kind" must be one of {", ".join(KINDS)}', code="bad_value")
    return value


def sae_arg(body: dict) -> str | None:
    value = body.get("sae")
    if value is not None and (not isinstance(value, str) or len(value) > 200):
        raise UserError('"sae" must be the name of an SAE folder in the run', code="bad_type")
    return value


_cache: dict[tuple, Browser] = {}  # one browser kept: each holds the activations of every token
_building = threading.Lock()


def browser_for(shared: Shared, body: dict) -> tuple[Browser | None, str]:
    """The browser of the SAE the request names in the run it names (built on first use, on the
    model the store already holds), or (None, why not) for a run without an SAE."""
    folder = shared.folder
    if folder is None:
        raise UserError("the Features panel needs a run (a GPT trained with attnlab train)", code="needs_gpt")
    name = sae_arg(body)
    try:
        sae_dir = find_sae(folder, name)
    except UserError as exc:
        if name is None:  # a run without an SAE: an answer, not an error (the panel stays hidden)
            return None, str(exc)
        raise UserError(str(exc), status=404, code="no_sae") from None
    key = (str(folder), sae_dir.name, committed_checkpoint_name(folder), committed_checkpoint_name(sae_dir))
    with _building:
        if key not in _cache:
            with shared.lock:
                _cache.clear()
                _cache[key] = open_browser(folder, sae_dir.name, TOKENS, opened=shared.source)[0]
        return _cache[key], sae_dir.name


def features(shared: Shared, body: dict) -> dict:
    """The Features panel's answer (see the module docstring): `attnlab features --json`'s object,
    assembled by the same function (labs/sae/features.py) on the browser kept here."""
    need_gpt(shared, "the Features panel")
    kind = kind_arg(body)
    top = int_arg(body, "top", 1, 5000, default=40)
    text = text_arg(body) if body.get("text") is not None else None
    browser, name = browser_for(shared, body)
    if browser is None:
        return {"sae": None, "note": name}
    unit = int_arg(body, "unit", 0, browser.count(kind) - 1, optional=True)
    idx = encode(shared, text)[0] if text is not None and text.strip() else None
    with shared.lock:
        return assemble(browser, name, kind, top, unit, idx).to_json()
