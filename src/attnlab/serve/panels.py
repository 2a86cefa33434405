"""The web lab's panels, registered here and nowhere else.

The app (app.py) reads PANELS to add each panel's `POST /api/<name>` and to serve its script;
the page (index.html, filled in by app.py) loads the scripts listed here, and `GET /api/panels`
tells it each lab panel's settings (name, default, help), from which labs.js draws its form.

A panel is one of two kinds:

    a model panel   answer(shared, body) on the model the request names ({"run"} or {"model"}),
                    with the model's lock held for every forward (attention, lens, patch, ...)
    a lab panel     answer(store, body): a lab (`attnlab.labs.shape.Lab`) run with the settings in
                    the body, its `result.to_json()` answered, exactly what `attnlab LAB --json`
                    prints; one lab run at a time, and each within the panel's budget

A why tool (lens, ablate, next, why, patch, attribute) is a lab panel on the model the request
names: its command's Lab run on the model the store holds, under its lock, answering what `attnlab
TOOL --json` prints; a tool's entry in TOOLS says what the web lab fixes, checks and reads of the
page's own forms (api_tools.py). The streamed generation (`POST /api/generate`, app.py) runs
`attnlab generate`'s Lab the same way (GENERATE, `generation`).

A new lab is one line in LABS below (its Lab, what its run costs and where it writes), a new tool
one line in TOOLS and one in PANELS; a new model panel is one line in PANELS and, if it has one,
its script in assets/.
"""

from __future__ import annotations

import dataclasses
import threading
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from attnlab.errors import UserError
from attnlab.labs.ablation import settings as ablation
from attnlab.labs.attribution import settings as attribution
from attnlab.labs.grokking import config as grokking
from attnlab.labs.induction import config as induction
from attnlab.labs.ladder import settings as ladder
from attnlab.labs.lens import settings as lens
from attnlab.labs.patching import settings as patching
from attnlab.labs.sampling import settings as sampling
from attnlab.labs.sae import settings as sae
from attnlab.labs.seq2seq import settings as seq2seq
from attnlab.labs.shape import Lab
from attnlab.labs.superposition import config as superposition
from attnlab.labs.why import settings as why
from attnlab.serve import api, api_features, api_tools
from attnlab.serve.busy import Gate


@dataclass(frozen=True)
class Panel:
    name: str  # POST /api/<name>
    answer: Callable[[Any, dict], dict]  # (Shared, body) for a model panel, (ModelStore, body) for a lab
    script: str | None = None  # its script in serve/assets, loaded by the page after lab.js
    model: bool = True  # the request names a model (store.get opens it)
    lab: Lab | None = None  # a lab panel: the lab it runs (its settings become the page's form)


@dataclass(frozen=True)
class LabLimits:
    """How a lab runs in the web lab: `cost(settings)` must stay within `budget` (so that one
    request cannot hold the lab for long; `what` names the measure), and `fixed(place)` gives the
    settings the page may not choose: where the lab writes (place: --runs, where a lab writes under
    a name of its own, or, `on_run`, the folder of the run the page has open)."""

    cost: Callable[[Any], int] = lambda settings: 0
    budget: int = 0
    what: str = ""
    fixed: Callable[[Path], dict[str, Any]] = lambda place: {}
    check: Callable[[Any, Any], None] = lambda settings, where: None  # (settings, store or shared): what the
    # web lab refuses beyond the lab's own checks
    on_run: bool = False  # the lab works on the run the page has open (the SAE): fixed(run folder)
    script: str | None = "labs.js"  # the page's script for it: labs.js draws a form of its settings;
    # None: the page's own lab.js draws it
    alone: bool = True  # one run of it at a time, lab-wide (a lab trains); a tool waits only for its model
    request: Callable[[dict], dict] = lambda body: body  # the page's body as settings: the keys and forms the
    # page sent before the tool had its settings (the Ablate panel's [layer, head] pairs), read in api_tools.py
    any_model: bool = False  # a tool on the run the page has open, or on MiniLM: fixed(None) when it is MiniLM


LAB_RUNS = Gate(1, "lab runs")  # a lab trains with every core it is given: one at a time
MODEL_KEYS = ("run", "model")  # what the page sends with every request (labs.js too)


def lab_settings(lab: Lab, limits: LabLimits, body: dict, place: Path, where: Any) -> Any:
    """A lab's settings from a request: the body's, checked as the CLI checks its flags (the same
    dataclass), with what the web lab fixes for `place` (--runs, or the run the page has open),
    within the panel's budget."""
    fixed = limits.fixed(place)
    chosen = limits.request({k: v for k, v in body.items() if k not in MODEL_KEYS})
    refused = sorted(set(chosen) & set(fixed))
    if refused:
        raise UserError(f"the web lab chooses {', '.join(refused)} itself; leave it out", code="bad_value")
    settings = lab.settings_from({**chosen, **fixed})
    limits.check(settings, where)
    cost = limits.cost(settings)
    if cost > limits.budget:
        raise UserError(f"these settings cost {cost:,} {limits.what}; the {lab.name} panel takes at most "
                        f"{limits.budget:,} (so that one request cannot hold the lab for long): run "
                        f"`attnlab {lab.name}` for more", status=413, code="over_budget")
    return settings


def lab_answer(lab: Lab, limits: LabLimits) -> Callable[[Any, dict], dict]:
    """The answer of a lab panel: the lab run with the request's settings, its result's to_json()."""

    def answer(store, body: dict) -> dict:
        settings = lab_settings(lab, limits, body, store.runs_dir, store)
        with LAB_RUNS.enter():
            return lab.run(settings).to_json()

    return answer


def run_lab_answer(lab: Lab, limits: LabLimits) -> Callable[[Any, dict], dict]:
    """The answer of a lab that works on a run (the SAE): on the run the request names, with the
    model the store already holds (`opened`), under its lock."""

    def answer(shared, body: dict) -> dict:
        if shared.folder is None and not limits.any_model:
            raise UserError(f"the {lab.name} panel needs a run (a GPT trained with attnlab train)", code="needs_gpt")
        settings = lab_settings(lab, limits, body, shared.folder, shared)
        with LAB_RUNS.enter() if limits.alone else nullcontext(), shared.lock:
            return lab.run(settings, opened=shared.source).to_json()

    return answer


def lab_panel(lab: Lab, limits: LabLimits) -> Panel:
    if limits.on_run:
        return Panel(lab.name, run_lab_answer(lab, limits), limits.script, model=True, lab=lab)
    return Panel(lab.name, lab_answer(lab, limits), limits.script, model=False, lab=lab)


def settings_listing(lab: Lab, limits: LabLimits | None = None) -> list[dict[str, Any]]:
    """A lab's settings as the page's form shows them: [{"name", "default", "help"}], without the
    ones the web lab fixes."""
    fixed = set(limits.fixed(Path(".")) if limits else ())
    out = []
    for f in dataclasses.fields(lab.settings):
        if f.name in fixed:
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        out.append({"name": f.name, "default": list(default) if isinstance(default, tuple) else default,
                    "help": f.metadata.get("help", "")})
    return out


def built_in_corpus(settings: Any, store: Any) -> None:
    """The web lab trains on the built-in corpora only: never a file the page names."""
    from attnlab.train.data import corpus_names

    if settings.corpus not in corpus_names():
        raise UserError(f"the web lab trains on a built-in corpus ({', '.join(corpus_names())}), not "
                        f"{settings.corpus[:80]!r}: run `attnlab ladder --corpus FILE` for your own", code="bad_value")


def seq2seq_cost(s: Any) -> int:
    if s.regression:
        return s.steps * 5  # seed 002's one sequence of 5 values, once an epoch
    return s.steps * s.batch_size * (s.max_len + 1) * s.n_layers + s.eval_size * s.beam * (s.max_len + 1) ** 2


# The labs the web lab runs, each with its budget: about the work of a few seconds to a minute here.
LABS: list[tuple[Lab, LabLimits]] = [
    (superposition.LAB, LabLimits(lambda s: s.features * s.instances * len(s.probabilities) * s.batch_size * s.steps,
                                  1 << 28, "feature-samples of training (features × instances × probabilities × "
                                  "batch size × steps)")),
    (grokking.LAB, LabLimits(lambda s: s.steps * int(s.train_fraction * s.p * s.p), 1 << 22,
                             "pair-steps of training (steps × training pairs)",
                             fixed=lambda runs: {"out_dir": str(runs / "web-grokking"), "resume": False,
                                                 "overwrite": True})),
    (induction.LAB, LabLimits(lambda s: sum(s.layers) * s.steps * s.batch_size * s.block_size + s.stream_tokens,
                              1 << 24, "layer-token-steps of training (layers × steps × batch size × block size, "
                              "plus the stream's tokens)",
                              fixed=lambda runs: {"out_dir": str(runs / "web-induction")})),
    (ladder.LAB, LabLimits(lambda s: (s.steps + 10 * s.eval_iters) * (1000 if s.scaled else 6), 60_000,
                           "rung-steps of training and evaluation ((steps + 10 × eval iters) × 6 rungs; the "
                           "scaled rung counts a thousand)",
                           fixed=lambda runs: {"out_dir": str(runs / "web-ladder")}, check=built_in_corpus)),
    (sae.LAB, LabLimits(lambda s: s.tokens + s.eval_tokens + s.steps * s.batch_size, 1 << 20,
                        "activations (collected, measured and trained on)",
                        fixed=lambda run: {"run": str(run)}, on_run=True)),
    (seq2seq.LAB, LabLimits(seq2seq_cost, 1 << 23, "token-steps of training and evaluation (steps × batch size × "
                            "sequence length × layers, plus held-out sequences × beam × length²)",
                            fixed=lambda runs: {"out": None, "resume": False, "png": None, "pe_png": None,
                                                "threads": 0})),  # threads: the lab's own, never changed
]
# The why tools: on the run the page has open, each within its texts' token caps.
TOOLS: list[tuple[Lab, LabLimits]] = [
    (lens.LAB, LabLimits(fixed=lambda run: {"run": str(run)}, check=api_tools.check_lens, on_run=True,
                         script=None, alone=False)),
    (patching.LAB, LabLimits(fixed=lambda run: {"run": str(run)}, check=api_tools.check_patch, on_run=True,
                             script="patch.js", alone=False)),
    (ablation.LAB, LabLimits(fixed=lambda run: {"run": str(run), "split": None, "batches": 10, "seed": 0,
                                                "corpus": None, "top": 10},
                             check=api_tools.check_ablate, on_run=True, script=None, alone=False,
                             request=api_tools.ablate_request)),
    (attribution.LAB, LabLimits(fixed=lambda run: {"run": str(run)}, check=api_tools.check_attribute, on_run=True,
                                script=None, alone=False)),  # an endpoint (no panel of the page draws it yet)
    (why.LAB, LabLimits(fixed=lambda run: {"run": str(run), "model": None} if run else {"run": None, "model": "minilm"},
                        check=api_tools.check_why, on_run=True, script=None, alone=False,
                        request=api_tools.why_request, any_model=True)),
    (sampling.NEXT, LabLimits(fixed=lambda run: {"run": str(run)}, check=api_tools.check_next, on_run=True,
                              script=None, alone=False, request=api_tools.sampling_request)),
]
# The streamed generation, POST /api/generate (app.py streams it): `attnlab generate`'s run, one sample.
GENERATE = (sampling.GENERATE, LabLimits(fixed=lambda run: {"run": str(run), "checkpoint": None, "num_samples": 1},
                                         check=api_tools.check_generate, on_run=True, script=None, alone=False,
                                         request=api_tools.generate_request))


def tool(name: str) -> Panel:
    lab, limits = next((lab, limits) for lab, limits in TOOLS if lab.name == name)
    return lab_panel(lab, limits)


PANELS: tuple[Panel, ...] = (
    Panel("attention", api.attention),
    Panel("explain", api.explain),
    tool("lens"),
    tool("ablate"),
    tool("next"),
    tool("why"),
    tool("patch"),
    tool("attribute"),
    Panel("features", api_features.features, "features.js"),
    *(lab_panel(lab, limits) for lab, limits in LABS),
)


def generation(shared, body: dict) -> Callable[[Callable[[str], None], threading.Event], str]:
    """A generation's checked settings made into `run(write, stop)`, which samples and calls
    `write(piece)` as each piece of text appears (`attnlab generate`'s run, its text streamed with
    the model's lock held one token at a time: api.locked_stream); it stops once `stop` is set."""
    lab, limits = GENERATE
    if shared.folder is None:
        raise UserError("generation needs a GPT run (a model that predicts the next token)", code="needs_gpt")
    settings = lab_settings(lab, limits, body, shared.folder, shared)

    def run(write: Callable[[str], None], stop: threading.Event) -> str:
        def progress(kind: str, info: dict) -> None:
            if kind == "text":
                write(info["text"])

        result = lab.run(settings, progress, opened=shared.source, stream=api.locked_stream(shared.lock, stop))
        return result.samples[0]

    return run


def scripts() -> list[str]:
    """The panels' scripts, each once, in PANELS' order."""
    return list(dict.fromkeys(p.script for p in PANELS if p.script))


def listing() -> list[dict[str, Any]]:
    """`GET /api/panels`: every panel's name and kind, and each lab panel's settings."""
    limits = dict((lab.name, lim) for lab, lim in [*TOOLS, *LABS])
    return [{"name": p.name, "kind": "lab" if p.lab else "model", "model": p.model, "script": p.script,
             **({"settings": settings_listing(p.lab, limits[p.name])} if p.lab else {})} for p in PANELS]
