"""An SAE's settings, checked where they enter (no torch here: `attnlab sae --help` reads the defaults)."""

from __future__ import annotations

from dataclasses import dataclass, field

from attnlab.config import setting
from attnlab.errors import UserError
from attnlab.labs.shape import Lab

DEFAULT_POINT = "blocks.0.ffwd.hidden"


@dataclass
class TrainSettings:
    l1: float = 0.8
    lr: float = 4e-3
    steps: int = 400
    batch_size: int = 256
    warmup: int = 50
    l1_warmup: int = 100  # the L1 weight grows from 0 to l1 over these first steps (fewer features die early)
    resample_every: int = 200  # 0: never resample
    eval_interval: int = 100
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "eval_interval"):
            if getattr(self, name) < 1:
                raise UserError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        for name in ("warmup", "l1_warmup", "resample_every"):
            if getattr(self, name) < 0:
                raise UserError(f"--{name.replace('_', '-')} must be 0 or more, got {getattr(self, name)}")
        if not (self.l1 >= 0 and self.l1 < float("inf")):
            raise UserError(f"--l1 must be a finite number ≥ 0, got {self.l1}")
        if not (self.lr > 0 and self.lr < float("inf")):
            raise UserError(f"--lr must be a finite number > 0, got {self.lr}")


@dataclass
class SAERequest:
    point: str = DEFAULT_POINT
    expansion: int = 4
    tokens: int = 65536  # activations collected from the training text
    eval_tokens: int = 16384  # from the validation text: every reported number is measured on them
    train: TrainSettings = field(default_factory=lambda: TrainSettings())

    def __post_init__(self) -> None:
        if isinstance(self.expansion, bool) or not isinstance(self.expansion, int) or self.expansion < 1:
            raise UserError(f"--expansion must be a whole number ≥ 1 (features per activation), got {self.expansion}")
        if self.tokens < self.train.batch_size:
            raise UserError(f"too few tokens: --tokens {self.tokens} is fewer than one batch "
                            f"(--batch-size {self.train.batch_size})")
        if self.eval_tokens < 1:
            raise UserError(f"--eval-tokens must be at least 1, got {self.eval_tokens}")


def folder_name(point: str, expansion: int) -> str:
    return f"sae-{point}-x{expansion}"


@dataclass
class SAESettings:
    """An SAE for one point of a run, as `attnlab sae` takes it: every field a flag and a key of the
    web lab's SAE panel (which names the run itself: the model the page has open). sae.json keeps
    the SAERequest and TrainSettings these make, as it always has."""

    run: str = setting("", "the run folder (the SAE is saved inside it)")
    point: str = setting(DEFAULT_POINT, "a named point, one vector per token")
    expansion: int = setting(4, "features per activation")
    l1: float = setting(0.8, "the L1 penalty's weight: higher is sparser")
    tokens: int = setting(65536, "activations collected from the training text")
    eval_tokens: int = setting(16384, "tokens of the validation text every number is measured on")
    steps: int = setting(400, "Adam steps")
    batch_size: int = setting(256, "activations per step")
    lr: float = setting(4e-3, "Adam's learning rate")
    resample_every: int = setting(200, "resample dead features every N steps, 0: never")
    seed: int = setting(0, "the SAE's initial weights and batches")
    resume: bool = setting(False, "continue the SAE saved in the run")
    overwrite: bool = setting(False, "replace the SAE saved in the run")

    def __post_init__(self) -> None:
        if not self.run:
            raise UserError("name the run folder the SAE is for: --run RUN")
        if self.resume and self.overwrite:
            raise UserError("--resume and --overwrite exclude each other")
        self.request()  # every value checked where SAERequest and TrainSettings check it

    @property
    def mode(self) -> str:
        return "resume" if self.resume else "overwrite" if self.overwrite else "new"

    def request(self) -> SAERequest:
        train = TrainSettings(l1=self.l1, lr=self.lr, steps=self.steps, batch_size=self.batch_size,
                              resample_every=self.resample_every, seed=self.seed,
                              eval_interval=max(1, min(TrainSettings.eval_interval, self.steps)))
        return SAERequest(point=self.point, expansion=self.expansion, tokens=self.tokens,
                          eval_tokens=self.eval_tokens, train=train)


# The lab: `attnlab sae` and the web lab's SAE panel run it.
LAB = Lab("sae", SAESettings, runner="attnlab.labs.sae.lab:run", reporter="attnlab.labs.sae.lab:report")


@dataclass
class FeaturesSettings:
    """What `attnlab features` browses: a run's SAE (or the raw neurons of its point), one unit in
    full, the units firing at each token of a text. Every field is a flag; the web lab's Features
    panel takes the same fields of its request and answers the same object (features.py)."""

    run: str = setting("", "the run folder holding the SAE")
    sae: str | None = setting(None, "the SAE's folder in the run (none: sae-blocks.0.ffwd.hidden-x4, or the only one)")
    kind: str = setting("feature", "feature (the SAE's) or neuron (the point's raw neurons)")
    unit: int | None = setting(None, "show unit I in full")
    text: str | None = setting(None, "which units fire at each token of this text")
    top: int = setting(20, "units listed")
    tokens: int = setting(16384, "validation tokens measured")

    def __post_init__(self) -> None:
        if not self.run:
            raise UserError("name the run folder that holds the SAE: --run RUN")
        if self.kind not in KINDS:
            raise UserError(f"--kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.top < 1 or self.tokens < 1:
            raise UserError("--top and --tokens must be at least 1")


KINDS = ("feature", "neuron")

# The lab: `attnlab features` runs it; the web lab's Features panel assembles its answer with the
# same function (features.assemble), on a browser it keeps.
FEATURES = Lab("features", FeaturesSettings, runner="attnlab.labs.sae.features:run",
               reporter="attnlab.labs.sae.features:report")

