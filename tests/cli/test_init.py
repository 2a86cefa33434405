"""cli/__init__.py: `main(argv)` dispatches to the subcommand and turns a bad input or a file error
into one line and exit code 2, Ctrl-C into 130, a closed pipe into 141; a bug keeps its traceback.
Each subcommand stands in here for a function that raises what the test needs."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

import attnlab.cli
import attnlab.cli.corpora
from attnlab.cli import COMMANDS, build_parser, main
from attnlab.errors import UserError


def command_raising(monkeypatch, exc: BaseException) -> None:
    """`attnlab corpora` raises `exc` (the parser is built after this, so it takes this `run`)."""
    def run(args):
        raise exc
    monkeypatch.setattr(attnlab.cli.corpora, "run", run)


def test_the_parser_lists_the_commands_in_order_and_each_has_a_function():
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert list(action.choices) == COMMANDS
    for name in COMMANDS:
        assert callable(action.choices[name].get_default("func")), name


def test_the_command_returns_its_code_and_gets_the_cpu_sample(monkeypatch):
    seen = []
    monkeypatch.setattr(attnlab.cli.corpora, "run", lambda args: seen.append(args) or 7)
    assert main(["corpora"]) == 7
    assert seen[0].command == "corpora" and seen[0].cpu_start is not None
    monkeypatch.setattr(attnlab.cli.corpora, "run", lambda args: None)
    assert main(["corpora"]) == 0  # None is success


@pytest.mark.parametrize("exc, line", [
    (UserError("--steps must be >= 1\n(and a second line nobody reads)"), "attnlab: error: --steps must be >= 1"),
    (FileNotFoundError(2, "No such file or directory", "x.txt"),
     "attnlab: error: [Errno 2] No such file or directory: 'x.txt'"),
    (PermissionError(), "attnlab: error: PermissionError"),  # no message: its type
])
def test_a_user_error_or_a_file_error_is_one_line_and_exit_code_2(monkeypatch, capsys, exc, line):
    command_raising(monkeypatch, exc)
    assert main(["corpora"]) == 2
    out, err = capsys.readouterr()
    assert err == line + "\n" and out == ""


def test_ctrl_c_is_130_and_a_bug_keeps_its_traceback(monkeypatch, capsys):
    command_raising(monkeypatch, KeyboardInterrupt())
    assert main(["corpora"]) == 130
    assert capsys.readouterr().err == "attnlab: interrupted\n"
    command_raising(monkeypatch, RuntimeError("a bug"))
    with pytest.raises(RuntimeError, match="a bug"):
        main(["corpora"])


def test_a_bad_flag_is_one_line_naming_the_command_and_its_help(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["shapes", "--n-layers", "x"])  # the subcommand's parser finds it
    assert exit_.value.code == 2
    assert capsys.readouterr().err == ("attnlab: error: shapes: argument --n-layers: invalid int value: 'x' "
                                       "(see attnlab shapes --help)\n")
    for argv, words in ((["corpora", "--no-such-flag"], "unrecognized arguments: --no-such-flag"),
                        (["no-such-command"], "argument COMMAND: invalid choice: 'no-such-command'")):
        with pytest.raises(SystemExit) as exit_:  # the top parser finds these
            main(argv)
        err = capsys.readouterr().err
        assert exit_.value.code == 2 and err.count("\n") == 1, err
        assert err.startswith(f"attnlab: error: {words}") and err.endswith("(see attnlab --help)\n"), err


def test_a_closed_pipe_ends_quietly_with_141():
    # In a child: stdout goes to a pipe whose reader is gone (`attnlab ... | head`).
    script = ("import sys, attnlab.cli, attnlab.cli.corpora\n"
              "def run(args):\n"
              "    raise BrokenPipeError(32, 'Broken pipe')\n"
              "attnlab.cli.corpora.run = run\n"
              "code = attnlab.cli.main(['corpora'])\n"
              "print('CODE', code, file=sys.stderr)\n"
              "print('after the pipe closed: to devnull, no error')\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stderr.strip() == "CODE 141", result.stderr[-2000:]
    assert result.stdout == ""
