"""`attnlab COMMAND --help`: every subcommand says what it does, every flag what it is, and
each default is said once."""

import argparse

import pytest

from attnlab.cli import COMMANDS, build_parser
from attnlab.cli._help import SAYS_DEFAULT


def subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def flag_help(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    """The help text of one flag exactly as --help prints it (before line wrapping)."""
    return parser._get_formatter()._expand_help(action)


@pytest.mark.parametrize("name", COMMANDS)
def test_every_subcommand_has_a_description(name):
    parser = subparsers()[name]
    assert parser.description and len(parser.description) > 40


@pytest.mark.parametrize("name", COMMANDS)
def test_every_flag_has_help_and_says_its_default_once(name):
    parser = subparsers()[name]
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        text = flag_help(parser, action) if action.help else ""
        assert text, f"{name} {action.option_strings or action.dest} has no help"
        assert len(SAYS_DEFAULT.findall(text)) <= 1, f"{name} {action.option_strings}: {text!r}"
        assert "(default: None)" not in text, text


def test_a_default_explained_in_words_is_not_repeated():
    shapes = subparsers()["shapes"]
    d_ff = next(a for a in shapes._actions if "--d-ff" in a.option_strings)
    assert flag_help(shapes, d_ff) == "feed-forward width (default 4 * d_model)"
    seq2seq = subparsers()["seq2seq"]
    eval_size = next(a for a in seq2seq._actions if "--eval-size" in a.option_strings)
    assert flag_help(seq2seq, eval_size).endswith("(default: 1000)")
