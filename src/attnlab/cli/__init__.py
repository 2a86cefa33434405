"""The `attnlab` command line: one module per subcommand.

Each subcommand module defines `add_parser(subparsers)` (which registers its flags and sets
`func`) and a `run(args) -> int`. `main(argv)` parses, dispatches, and turns bad input
(`attnlab.errors.UserError`, raised where a value is checked) and file errors (`OSError`) into one
line on stderr and exit code 2. Anything else is a bug and keeps its traceback.

`build_parser` imports every subcommand module, so a module imports torch, matplotlib and the
attnlab modules that load them inside `run`, never at its top: `attnlab --help` starts in a
fraction of a second (tests/test_architecture.py checks).

`main` first samples the CPU time every process has used (`attnlab.runtime.cpu_use`), before
torch's import, and hands the sample to the command in `args.cpu_start`: a command's threads are
the CPUs other processes left idle meanwhile (`cli/_runtime_args.use_runtime`). What the command
changes there (torch's threads, the autocast of --dtype) is put back when it returns.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys

from attnlab.errors import UserError
from attnlab.runtime import cpu_use

# Subcommand modules, in the order `attnlab --help` lists them.
COMMANDS = [
    "shapes",
    "corpora",
    "train",
    "ladder",
    "generate",
    "next",
    "attention",
    "heads",
    "explain",
    "lens",
    "ablate",
    "why",
    "patch",
    "attribute",
    "serve",
    "induction",
    "grokking",
    "superposition",
    "sae",
    "features",
    "seq2seq",
    "export-hf",
    "import-hf",
]


class Parser(argparse.ArgumentParser):
    """argparse, with a bad flag reported like every other error: one line, exit code 2
    (`attnlab train --help` still shows the usage)."""

    def error(self, message: str):
        command = self.prog.split(" ", 1)[1] + ": " if " " in self.prog else ""
        self.exit(2, f"attnlab: error: {command}{message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="attnlab",
        description="Transformers from scratch: build, train, generate, and see inside attention.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in COMMANDS:
        module = importlib.import_module(f"attnlab.cli.{name.replace('-', '_')}")
        module.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    started = cpu_use.sample()  # before torch's import: what others run meanwhile decides the threads
    parser = build_parser()
    try:
        try:
            args = parser.parse_args(argv)
        finally:
            sys.stdout.flush()  # --help into a closed pipe fails here
        with contextlib.ExitStack() as scope:  # what `use_runtime` changes is put back at the end
            args.cpu_start, args.runtime_scope = started, scope
            code = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows up here, not at exit where it cannot be caught
        return code
    except BrokenPipeError:
        return _closed_pipe()
    except KeyboardInterrupt:
        print("attnlab: interrupted", file=sys.stderr)
        return 130
    except (UserError, OSError) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"attnlab: error: {message}", file=sys.stderr)
        return 2


def _closed_pipe() -> int:
    """The reader of stdout went away (`attnlab ... | head`): end quietly, as the Python docs
    recommend. stdout is pointed at devnull so the interpreter's final flush cannot fail again;
    141 is what a shell reports for a process ended by SIGPIPE (128 + 13)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 141


def entry_point() -> None:
    sys.exit(main())
