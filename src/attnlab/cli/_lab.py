"""A settings dataclass as flags, and a lab's result printed: what every lab command shares.

Each field of a settings dataclass (made with `config.setting(default, help)`) is one flag,
`train_fraction` is `--train-fraction`, with the field's help and default. A flag not given
stays out of the namespace (argparse.SUPPRESS), so the settings are built in one order for
every command: the command's base values (a preset), then its `--config FILE.toml`, then the
flags given. The lab itself is `attnlab.labs.shape.Lab`; this module only parses and prints.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any, Iterable

from attnlab.cli._help import SAYS_DEFAULT


def _optional(kind):
    def parse(text: str):
        return None if text.lower() == "none" else kind(text)
    parse.__name__ = kind.__name__
    return parse


KINDS = {"int": int, "float": float, "str": str, "int | None": _optional(int), "float | None": _optional(float),
         "str | None": _optional(str)}


def add_field(group, f: dataclasses.Field, flags: Iterable[str] = ()) -> None:
    """One dataclass field as a flag (`block_size` is `--block-size`, plus any older `flags` that
    still work) with the field's help and default; a flag not given stays out of the namespace,
    so a preset or TOML value is kept. A tuple field takes one or more values (`--rates 1 0.5`)."""
    names = ["--" + f.name.replace("_", "-"), *flags]
    default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
    shown = "none" if default is None else " ".join(map(str, default)) if isinstance(default, tuple) else default
    text = f.metadata["help"] if SAYS_DEFAULT.search(f.metadata["help"]) else f"{f.metadata['help']} (default: {shown})"
    text = text.replace("%", "%%")  # a help text that explains its default in words keeps it (_help.py)
    common = dict(default=argparse.SUPPRESS, help=text, dest=f.name)
    if f.type == "bool":
        group.add_argument(*names, action=argparse.BooleanOptionalAction, **common)
    elif str(f.type).startswith("tuple["):  # read as text: items(), so that a bad one is a UserError
        group.add_argument(*names, nargs="+", metavar=f.name.upper(), **common)
    else:
        group.add_argument(*names, type=KINDS[f.type], metavar=f.name.upper(), **common)


def add_settings(parser: argparse.ArgumentParser, cls: type, flags: dict[str, tuple[str, ...]] | None = None,
                 title: str | None = None) -> None:
    """Every field of `cls` as a flag (`flags`: older names a field keeps), and `--config FILE.toml`."""
    group = parser.add_argument_group(title or f"settings ({cls.__name__}'s fields; also the keys of --config)")
    for f in dataclasses.fields(cls):
        add_field(group, f, (flags or {}).get(f.name, ()))
    parser.add_argument("--config", metavar="FILE.toml", dest="config_file",
                        help="settings from a TOML file (its keys are the settings' names); flags given win")


def given_settings(cls: type, args: argparse.Namespace) -> dict[str, Any]:
    """The settings flags that were given on the command line (a tuple field's text made items)."""
    return {f.name: items(f, getattr(args, f.name)) if str(f.type).startswith("tuple[") else getattr(args, f.name)
            for f in dataclasses.fields(cls) if hasattr(args, f.name)}


def items(f: dataclasses.Field, texts: list[str]) -> tuple:
    """A tuple flag's values, separated by spaces or commas: `--layers 1 2` or `--layers 1,2`.

    >>> from attnlab.labs.superposition.config import ToyConfig
    >>> items(dataclasses.fields(ToyConfig)[2], ["1,0.5", "0.1"])
    (1.0, 0.5, 0.1)
    """
    from attnlab.errors import UserError

    kind = str(f.type)[6:].split(",")[0].strip()
    out = []
    for part in (p for text in texts for p in text.split(",")):
        try:
            out.append(KINDS[kind](part.strip()))
        except ValueError:
            raise UserError(f"--{f.name.replace('_', '-')} must be comma-separated (or space-separated) values such "
                            f"as {'1,2' if kind == 'int' else '1 0.5'}: invalid {kind} value {part!r}") from None
    return tuple(out)


def settings_from_args(cls: type, args: argparse.Namespace, base: dict[str, Any] | None = None) -> Any:
    """`cls` from the base values, then the --config file, then the flags given. The file's values
    are checked for their types here (argparse has typed the flags'); the settings' own checks,
    which name the flags, follow when `cls` is built."""
    return cls(**{**(base or {}), **given_with_config(cls, args)})


def given_with_config(cls: type, args: argparse.Namespace) -> dict[str, Any]:
    """The settings the --config file holds (types and bounds checked: labs.shape.check_given), then
    the flags given over them (bounds checked: argparse has typed them) before any lab sees them."""
    from attnlab.config import check_bounds, load_toml
    from attnlab.labs.shape import as_tuples, check_given, given

    values = {}
    if getattr(args, "config_file", None):
        values = as_tuples(cls, load_toml(args.config_file, {f.name for f in dataclasses.fields(cls)}))
        check_given(cls, values, f"key in {args.config_file}")
    flags = given_settings(cls, args)
    check_bounds(given(cls, flags), flags=True)  # (argparse has typed them; NaN is the lab's to name)
    return {**values, **flags}


def print_json(result: Any) -> None:
    """The result's to_json() on one line, strict JSON as the web lab sends it: a NaN or an
    infinity (which JSON has not) is null."""
    from attnlab.io import finite

    print(json.dumps(finite(result.to_json()), allow_nan=False))


def print_lines(lines: Iterable[str]) -> None:
    for line in lines:
        print(line)
