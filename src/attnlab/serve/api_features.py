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
from pathlib import Path
from typing import Callable

from attnlab.errors import UserError
from attnlab.labs.sae.browse import Browser
from attnlab.labs.sae.lab import find_sae, open_browser
from attnlab.runs.folder import committed_checkpoint_name
from attnlab.serve.api import encode, int_arg, need_gpt, text_arg
from attnlab.serve.store import ModelStore, Shared

TOKENS = 8192  # validation tokens the panel measures on
KINDS = ("feature", "neuron")


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


def handler(store: ModelStore) -> Callable[[Shared, dict], dict]:
    """The endpoint's function (shared, body) -> dict; it finds the run folder through `store`."""
    cache: dict[tuple, Browser] = {}
    building = threading.Lock()

    def browser_for(shared: Shared, body: dict) -> tuple[Browser | None, str]:
        run = body.get("run")
        folder = store.run_folders().get(run) if isinstance(run, str) else None
        if folder is None:
            raise UserError("the Features panel needs a run (a GPT trained with attnlab train)", code="needs_gpt")
        name = sae_arg(body)
        try:
            sae_dir = find_sae(Path(folder), name)
        except UserError as exc:
            if name is None:  # a run without an SAE: an answer, not an error (the panel stays hidden)
                return None, str(exc)
            raise UserError(str(exc), status=404, code="no_sae") from None
        key = (str(folder), sae_dir.name, committed_checkpoint_name(folder), committed_checkpoint_name(sae_dir))
        with building:
            if key not in cache:
                with shared.lock:
                    cache.clear()  # one browser kept: each holds the activations of every token
                    cache[key] = open_browser(folder, sae_dir.name, TOKENS)[0]
            return cache[key], sae_dir.name

    def features(shared: Shared, body: dict) -> dict:
        need_gpt(shared, "the Features panel")
        kind = kind_arg(body)
        top = int_arg(body, "top", 1, 5000, default=40)
        text = text_arg(body) if body.get("text") is not None else None
        browser, name = browser_for(shared, body)
        if browser is None:
            return {"sae": None, "note": name}
        unit = int_arg(body, "unit", 0, browser.count(kind) - 1, optional=True)
        out = {"sae": name, "kind": kind, "summary": browser.summary(), "listing": browser.listing(kind)[:top]}
        with shared.lock:
            if unit is not None:
                out["detail"] = browser.detail(kind, unit)
            if text is not None and text.strip():
                idx, _ = encode(shared, text)
                out["fire"] = browser.fire(idx, kind)
        return out

    return features
