"""cli/_lab.py on a settings dataclass of its own: each field one flag with its help and default,
a flag not given left out, the order base values < --config < flags, tuple and optional values,
and the one-line error of a bad item (a real lab through these: tests/labs/test_shape.py)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import pytest

from attnlab.cli import Parser
from attnlab.cli._lab import add_settings, given_settings, print_lines, settings_from_args
from attnlab.config import setting
from attnlab.errors import UserError


@dataclass
class Toy:
    steps: int = setting(10, "training steps")
    lr: float = setting(0.5, "learning rate")
    name: str | None = setting(None, "a name for the run")
    width: int | None = setting(None, "hidden width (default: twice the input)")
    rates: tuple[float, ...] = setting((0.1, 0.2), "the rates to sweep")
    shuffle: bool = setting(True, "shuffle the data, 100% of it")


def parser() -> argparse.ArgumentParser:
    p = Parser(prog="attnlab toy")
    add_settings(p, Toy, flags={"steps": ("--iters",)})
    return p


def helps(p: argparse.ArgumentParser) -> dict[str, str]:
    return {a.dest: p._get_formatter()._expand_help(a) for a in p._actions if a.help and a.dest != "help"}


def test_each_field_is_a_flag_whose_help_says_its_default_once():
    assert helps(parser()) == {
        "steps": "training steps (default: 10)",
        "lr": "learning rate (default: 0.5)",
        "name": "a name for the run (default: none)",
        "width": "hidden width (default: twice the input)",  # said in words: not repeated
        "rates": "the rates to sweep (default: 0.1 0.2)",
        "shuffle": "shuffle the data, 100% of it (default: True)",  # a % survives argparse's formatting
        "config_file": "settings from a TOML file (its keys are the settings' names); flags given win",
    }


def test_a_flag_not_given_stays_out_so_the_defaults_are_the_dataclasses():
    args = parser().parse_args([])
    assert given_settings(Toy, args) == {}
    assert settings_from_args(Toy, args) == Toy()


def test_flags_are_typed_and_an_older_name_still_works():
    args = parser().parse_args(["--iters", "3", "--lr", "1e-2", "--name", "none", "--width", "8", "--no-shuffle",
                                "--rates", "1,0.5", "0.25"])
    assert given_settings(Toy, args) == {"steps": 3, "lr": 0.01, "name": None, "width": 8, "shuffle": False,
                                         "rates": (1.0, 0.5, 0.25)}


def test_base_values_then_the_toml_file_then_the_flags(tmp_path):
    toml = tmp_path / "toy.toml"
    toml.write_text('steps = 20\nrates = [0.3]\nname = "from-the-file"\n', encoding="utf-8")
    base = {"steps": 5, "lr": 0.1, "name": "from-the-base"}
    args = parser().parse_args(["--config", str(toml), "--name", "from-the-flag"])
    assert settings_from_args(Toy, args, base) == Toy(steps=20, lr=0.1, name="from-the-flag", rates=(0.3,))
    assert settings_from_args(Toy, parser().parse_args([]), base) == Toy(steps=5, lr=0.1, name="from-the-base")


def test_a_bad_file_key_or_value_and_a_bad_tuple_item_are_one_user_error(tmp_path):
    toml = tmp_path / "toy.toml"
    toml.write_text("stepz = 20\n", encoding="utf-8")
    with pytest.raises(UserError, match="stepz"):
        settings_from_args(Toy, parser().parse_args(["--config", str(toml)]))
    toml.write_text('steps = "twenty"\n', encoding="utf-8")
    with pytest.raises(UserError, match="steps must be an integer"):
        settings_from_args(Toy, parser().parse_args(["--config", str(toml)]))
    with pytest.raises(UserError, match=r"--rates must be comma-separated .* invalid float value 'often'"):
        given_settings(Toy, parser().parse_args(["--rates", "0.5,often"]))


def test_a_bad_typed_flag_is_argparses_one_line(capsys):
    with pytest.raises(SystemExit):
        parser().parse_args(["--steps", "ten"])
    assert capsys.readouterr().err.startswith("attnlab: error: toy: argument --steps/--iters: invalid int value")


def test_print_lines_prints_each_line(capsys):
    print_lines(iter(["a", "", "b"]))
    assert capsys.readouterr().out == "a\n\nb\n"
