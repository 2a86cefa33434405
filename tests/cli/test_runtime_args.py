"""cli/_runtime_args: every command that computes takes --threads and --dtype, and every one of them,
the web lab included, hands them to the one runtime decision (attnlab.runtime.decision.decide)."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import attnlab.device
import attnlab.runtime.cpu_use
import attnlab.runtime.decision
from attnlab.cli import COMMANDS, build_parser
from attnlab.errors import UserError
from attnlab.runtime.decision import Runtime

from train_helpers import cli_main, one_thread  # noqa: F401 (an autouse fixture)

NOT_COMPUTING = {"corpora": "lists the built-in corpora", "export-hf": "copies weights into another format",
                 "import-hf": "copies weights from another format"}


def commands(tmp) -> dict[str, list[str]]:
    """Each computing command with the least it needs to reach its runtime decision."""
    run = ["--run", str(tmp)]
    return {
        "shapes": ["shapes", "--n-layers", "1"],
        "train": ["train", "--out-dir", str(tmp), "--name", "n"],
        "ladder": ["ladder", "--out-dir", str(tmp / "ladder")],
        "generate": ["generate", *run],
        "next": ["next", *run],
        "attention": ["attention", "hi", *run],
        "heads": ["heads", "hi", *run, "--from", "h", "--to", "i"],
        "explain": ["explain"],
        "lens": ["lens", "hi", *run],
        "ablate": ["ablate", *run, "--text", "hi"],
        "why": ["why", "hi", *run, "--from", "h", "--to", "i"],
        "patch": ["patch", *run, "--clean", "a b", "--corrupt", "a c"],
        "attribute": ["attribute", "hi", *run],
        "serve": ["serve", "--runs", str(tmp)],
        "induction": ["induction"],
        "grokking": ["grokking", "--out-dir", str(tmp / "grok")],
        "superposition": ["superposition"],
        "sae": ["sae", *run],
        "features": ["features", *run],
        "seq2seq": ["seq2seq"],
    }


def test_every_command_but_the_listed_ones_computes():
    assert sorted(set(COMMANDS) - set(NOT_COMPUTING)) == sorted(commands(Path(".")))


@pytest.mark.parametrize("name", sorted(set(COMMANDS) - set(NOT_COMPUTING)))
def test_every_computing_command_takes_threads_and_dtype(name):
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[name]
    flags = {flag for action in sub._actions for flag in action.option_strings}
    assert {"--threads", "--dtype"} <= flags


@pytest.mark.parametrize("name", sorted(set(COMMANDS) - set(NOT_COMPUTING)))
def test_every_computing_command_decides_through_the_one_function(name, tmp_path, monkeypatch, capsys):
    seen = []

    def spy(device="auto", dtype="auto", threads=0, **kwargs):
        seen.append((threads, dtype))
        raise UserError("stopped by the test's decide")

    monkeypatch.setattr(attnlab.runtime.decision, "decide", spy)
    monkeypatch.chdir(tmp_path)
    code = cli_main([*commands(tmp_path)[name], "--threads", "3", "--dtype", "fp32"])
    err = capsys.readouterr().err
    assert code == 2 and "stopped by the test's decide" in err, err
    assert seen == [(3, "fp32")]  # the flags, once


def test_the_threads_come_from_what_other_processes_ran_since_the_start(monkeypatch, capsys):
    applied = []
    monkeypatch.setattr(attnlab.device, "usable_cpus", lambda: 2)
    monkeypatch.setattr(Runtime, "apply", lambda self: applied.append(self.threads) or self)
    torch.set_num_threads(2)  # torch's own choice on 2 cores: the most a decision takes
    for busy, threads in ((1.9, 1), (0.1, 2)):
        monkeypatch.setattr(attnlab.runtime.cpu_use, "others_busy", lambda since, now=None, busy=busy: busy)
        assert cli_main(["shapes", "--n-layers", "1"]) == 0
        assert applied[-1] == threads
    capsys.readouterr()


def test_a_command_puts_torch_threads_back_when_it_returns(capsys):
    torch.set_num_threads(1)
    assert cli_main(["shapes", "--n-layers", "1", "--threads", "2"]) == 0
    assert torch.get_num_threads() == 1  # an in-process caller (a test, a notebook) keeps its setting
    capsys.readouterr()


def test_the_first_sample_is_taken_before_torch_is_imported():
    script = ("import sys\nimport attnlab.runtime.cpu_use as cpu_use\nimport attnlab.cli\n"
              "real = cpu_use.sample\nseen = []\n"
              "cpu_use.sample = lambda: seen.append('torch' in sys.modules) or real()\n"
              "code = attnlab.cli.main(['shapes', '--n-layers', '1'])\n"
              "print('TORCH_AT_FIRST_SAMPLE', seen[0], code)\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert "TORCH_AT_FIRST_SAMPLE False 0" in out.stdout, out.stderr[-2000:]
