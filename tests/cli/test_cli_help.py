"""`attnlab COMMAND --help`: every subcommand says what it does, every flag what it is, and
each default is said once."""

import argparse
import dataclasses

import pytest

from attnlab.cli import COMMANDS, build_parser
from attnlab.cli._help import SAYS_DEFAULT
from attnlab.config import GPTConfig


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


# A value other than the default for each GPTConfig field that is not a bool (a bool is flipped):
# a field added to GPTConfig fails the test below until it has one here.
NOT_DEFAULT = {"max_seq_len": 32, "d_model": 96, "n_heads": 2, "n_layers": 3, "d_ff": 100, "activation": "relu",
               "norm": "post", "dropout": 0.25, "layer_norm_eps": 1e-6, "init": "torch",
               "position": "sinusoidal"}


def test_every_gpt_config_field_is_a_train_flag_with_its_help_and_default(tmp_path):
    from attnlab.cli.train import resolve_config

    train = subparsers()["train"]
    flags = {flag: action for action in train._actions for flag in action.option_strings}
    argv = ["train", "--out-dir", str(tmp_path)]
    unset = resolve_config(build_parser().parse_args(argv))[0].model_config(vocab_size=5)
    expected = {}
    for f in dataclasses.fields(GPTConfig):
        if f.name == "vocab_size":
            continue  # the tokenizer's
        flag = "--" + ("block_size" if f.name == "max_seq_len" else f.name).replace("_", "-")
        default = getattr(unset, f.name)  # what a run without the flag gets: the printed default
        shown = "none" if default is None else default
        assert flag_help(train, flags[flag]) == f"{f.metadata['help']} (default: {shown})", flag
        if f.type == "bool":
            assert "--no-" + flag[2:] in flags
            argv.append(flag if not default else "--no-" + flag[2:])
            expected[f.name] = not default
        else:
            argv += [flag, str(NOT_DEFAULT[f.name])]
            expected[f.name] = NOT_DEFAULT[f.name]
    model = resolve_config(build_parser().parse_args(argv))[0].model_config(vocab_size=5)
    assert {name: getattr(model, name) for name in expected} == expected  # each flag reaches the model
