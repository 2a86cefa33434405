"""One shape for every lab: settings, run, result, report.

A lab is written once and used by the command line and the web lab alike:

    settings   a dataclass whose fields, each made with `config.setting(default, help)`, are the
               command's flags (`train_fraction` is `--train-fraction`), the keys of its
               `--config` TOML file and of its web panel's request; checked in __post_init__
    run        run(settings, progress) -> result: the whole computation; progress(kind, info)
               hears its events (the CLI draws a bar or prints lines, the web lab ignores them);
               a lab that trains on a chosen device also takes the caller's runtime=
    result     a plain dataclass with to_json(): what `attnlab LAB --json` prints and what
               `POST /api/LAB` answers, the same object
    report     report(result) -> lines of text: what the command prints without --json

The settings module must not import torch (`attnlab --help` reads the defaults), so a `Lab`
names its run and report as "module:function" and imports them when they are first used.

    >>> from dataclasses import dataclass
    >>> from attnlab.config import setting
    >>> @dataclass
    ... class Toy:
    ...     steps: int = setting(10, "training steps")
    ...     rates: tuple[float, ...] = setting((0.1,), "the learning rates")
    >>> settings_from_dict(Toy, {"rates": [0.5, 1]}).rates
    (0.5, 1)
    >>> settings_from_dict(Toy, {"step": 3})
    Traceback (most recent call last):
    ...
    attnlab.errors.UserError: unknown setting(s): step (known: rates, steps)
    >>> help_of(Toy)["steps"]
    'training steps'
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from attnlab.config import check_bounds, check_types
from attnlab.errors import UserError

Progress = Callable[[str, dict[str, Any]], None]  # progress(kind, info): "start", "step", "eval", ...


def quiet(kind: str, info: dict[str, Any]) -> None:
    """The progress of a run nobody watches (the web lab's, a test's)."""


class Result(Protocol):
    """What a lab's run returns: a plain dataclass whose to_json() is the `--json` object."""

    def to_json(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Lab:
    """A lab: its name (the subcommand and the web panel), its settings class and where its run
    and report live ("attnlab.labs.grokking.run:run", imported on first use: they load torch)."""

    name: str
    settings: type
    runner: str  # "module:function" of run(settings, progress) -> result
    reporter: str  # "module:function" of report(result) -> lines of text

    def run(self, settings: Any, progress: Progress | None = None, **context: Any) -> Result:
        """The lab's run; `context`: what a caller has decided for it beyond the settings (the
        ladder's runtime: the device, precision and threads the command chose)."""
        if not isinstance(settings, self.settings):
            raise TypeError(f"the {self.name} lab runs {self.settings.__name__}, not {type(settings).__name__}")
        return _load(self.runner)(settings, progress or quiet, **context)

    def report(self, result: Result) -> list[str]:
        return list(_load(self.reporter)(result))

    def settings_from(self, data: dict[str, Any], source: str = "setting") -> Any:
        """The settings from a JSON object or a TOML table (see settings_from_dict)."""
        return settings_from_dict(self.settings, data, source)


def _load(path: str) -> Callable[..., Any]:
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


def help_of(cls: type) -> dict[str, str]:
    """Each field's help text, from `setting(default, text)`."""
    return {f.name: f.metadata.get("help", "") for f in dataclasses.fields(cls)}


def settings_from_dict(cls: type, data: dict[str, Any], source: str = "setting") -> Any:
    """`cls` from plain data (a JSON object, a TOML table): an unknown key, a value of the wrong
    type or out of range is one UserError that names it; lists become the tuples a field holds."""
    values = as_tuples(cls, data)
    check_given(cls, values, source)
    return cls(**values)


def as_tuples(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """`data` with a list given for a tuple field made a tuple (JSON and TOML have only lists)."""
    return {k: tuple(v) if isinstance(v, list) and str(_types(cls).get(k, "")).startswith("tuple[") else v
            for k, v in data.items()}


def _types(cls: type) -> dict[str, Any]:
    return {f.name: f.type for f in dataclasses.fields(cls)}


def check_given(cls: type, values: dict[str, Any], source: str = "setting") -> None:
    """Unknown keys, the type of each value given and the bounds of each integer (config.check_bounds:
    a seed torch takes, a count within 10**12), before __post_init__ compares values, so that
    {"steps": "ten"} is one clear line ("steps must be an integer") and not a TypeError."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise UserError(f"unknown {source}(s): {', '.join(unknown)} (known: {', '.join(sorted(fields))})",
                        code="unknown_setting")
    check_types(given(cls, values))
    check_bounds(given(cls, values), flags=True)  # every lab's integers: flags (_lab.py), TOML and the web lab


def given(cls: type, values: dict[str, Any]) -> Any:
    """The values given as a dataclass with `cls`'s fields for them alone, unchecked (no
    __post_init__), for config.check_types and config.check_bounds to read."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    made = dataclasses.make_dataclass("Given", [(name, fields[name].type, dataclasses.field(default_factory=lambda v=v: v))
                                                for name, v in values.items()])
    return made()


def without_nan(value: Any) -> Any:
    """Plain data for JSON: tuples as lists, NaN and infinities as None (strict JSON has neither)."""
    from attnlab.io import finite

    return finite(value)
