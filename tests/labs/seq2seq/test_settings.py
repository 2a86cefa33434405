"""attnlab.labs.seq2seq.settings: the settings of an `attnlab seq2seq` run (Seq2SeqRunConfig):
defaults per task, validation, the flags that map onto them, and a CLI module that loads no torch
until a run starts (resuming from a saved config.json: test_run.py)."""

from __future__ import annotations

import argparse
import ast
import dataclasses
import math
from pathlib import Path

import pytest

from attnlab.cli import build_parser
from attnlab.config import Seq2SeqConfig
from attnlab.errors import UserError
from attnlab.labs.seq2seq.settings import REGRESSION_TASK, TOKEN_TASKS, Seq2SeqRunConfig, task_defaults
from attnlab.labs.seq2seq.tasks import TokenTask


# --- defaults per task ---------------------------------------------------------------------------
def test_the_regression_defaults_are_seed_002s_model():
    """Seq2SeqConfig's defaults are seed 002's nn.Transformer (tested in tests/model/test_seq2seq.py)."""
    settings = Seq2SeqRunConfig()
    assert settings.task == REGRESSION_TASK and settings.regression
    assert settings.model_config() == Seq2SeqConfig()
    assert (settings.steps, settings.lr) == (500, 1e-3)  # seed 002: range(500 + 1) epochs, Adam(lr=0.001)


@pytest.mark.parametrize("task", TOKEN_TASKS)
def test_token_task_defaults(task):
    s = Seq2SeqRunConfig(task=task)
    assert (s.d_model, s.n_heads, s.n_layers, s.d_ff, s.norm, s.dropout) == (64, 4, 2, 128, "pre", 0.0)
    assert (s.lr, s.warmup, s.batch_size, s.seed) == (2e-3, 100, 128, 0)
    assert s.steps == (2000 if task == "sort" else 800)
    assert (s.vocab, s.min_len, s.max_len) == (10, 1, 10)
    t = TokenTask(task)  # the task's own defaults agree
    assert (t.vocab, t.min_len, t.max_len) == (s.vocab, s.min_len, s.max_len)
    model = s.model_config(t.src_vocab_size, t.tgt_vocab_size)
    assert model.max_seq_len == s.max_len + 1 and model.n_encoder_layers == model.n_decoder_layers == 2


def test_given_values_win_and_d_ff_follows_the_width():
    assert Seq2SeqRunConfig(task="copy", d_model=32).d_ff == 64
    assert Seq2SeqRunConfig(d_model=32).d_ff == 32  # the regression's d_ff is seed 002's, whatever the width
    s = Seq2SeqRunConfig(task="reverse", d_model=32, d_ff=40, norm="post", dropout=0.2, lr=1e-2, steps=7)
    assert (s.d_model, s.d_ff, s.norm, s.dropout, s.lr, s.steps) == (32, 40, "post", 0.2, 1e-2, 7)
    assert Seq2SeqRunConfig(task="copy", dropout=0.0).dropout == 0.0  # 0 is a value, not "unset"


def test_every_task_dependent_field_defaults_to_none_and_is_filled():
    none_fields = {f.name for f in dataclasses.fields(Seq2SeqRunConfig) if f.default is None}
    per_task = set(task_defaults(REGRESSION_TASK))
    assert per_task == set(task_defaults("copy")) and per_task <= none_fields
    for task in (REGRESSION_TASK, *TOKEN_TASKS):
        s = Seq2SeqRunConfig(task=task)
        assert all(getattr(s, name) is not None for name in per_task)


# --- validation -------------------------------------------------------------------------------------
@pytest.mark.parametrize("fields,message", [
    (dict(task="add"), "unknown task 'add'"),
    (dict(lr=0.0), "--lr must be a finite number > 0"),
    (dict(lr=math.inf), "--lr must be a finite number > 0"),
    (dict(lr=math.nan), "--lr must be a finite number > 0"),
    (dict(lr="fast"), "--lr must be a finite number > 0"),
    (dict(steps=0), "--steps must be >= 1, got 0"),
    (dict(task="copy", batch_size=0), "--batch-size must be >= 1"),
    (dict(eval_size=0), "--eval-size must be >= 1"),
    (dict(beam=0), "--beam must be >= 1"),
    (dict(save_every=0), "--save-every must be >= 1"),
    (dict(n_layers=0), "--n-layers must be >= 1"),
    (dict(warmup=-1), "--warmup must be >= 0"),
    (dict(examples=-1), "--examples must be >= 0"),
    (dict(threads=-1), "--threads must be >= 0"),
    (dict(threads=10**6), "far more than"),
    (dict(seed=-1), "--seed must be in [0, 2**32)"),
    (dict(seed=2**32), "--seed must be in [0, 2**32)"),
    (dict(steps=2.5), "steps must be an integer"),
    (dict(n_layers=True), "n_layers must be an integer"),
    (dict(resume="yes", out="r"), "resume must be true or false"),
    (dict(png="cross.jpg"), "--png cross.jpg: the file name must end in .png, .svg or .pdf"),
    (dict(pe_png="pe.svg"), "--pe-png pe.svg: the file name must end in .png"),
    (dict(task="copy", resume=True), "--resume needs --out"),
    (dict(resume=True, out="r"), "--resume is for the token tasks"),
    (dict(task="copy", vocab=1), "vocab must be in [2, 1000]"),
    (dict(task="sort", min_len=0), "min_len"),
    (dict(task="copy", max_len=65), "max_len"),
    (dict(task="copy", d_model=30, n_heads=4), "divisible"),
    (dict(d_model=18, n_heads=4), "divisible"),
    (dict(task="copy", d_model=0), "d_model must be a positive integer"),
    (dict(task="copy", d_model=9, n_heads=3), "d_model (9) must be even"),  # the sinusoidal table's sin/cos pairs
    (dict(task="reverse", norm="none"), "unknown norm 'none'"),  # the encoder-decoder has no norm-free variant
    (dict(dropout=1.0), "dropout must be in [0, 1)"),
])
def test_bad_settings_are_one_user_error(fields, message):
    with pytest.raises(UserError) as info:
        Seq2SeqRunConfig(**fields)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_good_edges_are_accepted():
    Seq2SeqRunConfig(task="copy", vocab=2, min_len=64, max_len=64, warmup=0, examples=0, threads=0,
                     seed=2**32 - 1, png="a.PDF", pe_png="b.png")


# --- the flags --------------------------------------------------------------------------------------
def _seq2seq_parser() -> argparse.ArgumentParser:
    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices["seq2seq"]


def test_every_field_is_a_flag_and_its_help_says_the_default():
    parser = _seq2seq_parser()
    flags = {a.dest: a for a in parser._actions if a.option_strings and a.dest != "help"}
    # --dtype is the runtime decision's (cli/_runtime_args), as on every command that computes; --json
    # and --config (config_file) every lab's (cli/_lab.py)
    assert set(flags) - {"no_progress", "dtype", "json", "config_file"} == \
        {f.name for f in dataclasses.fields(Seq2SeqRunConfig)}
    d, copy = Seq2SeqRunConfig(), Seq2SeqRunConfig(task="copy")
    for f in dataclasses.fields(Seq2SeqRunConfig):
        text = parser._get_formatter()._expand_help(flags[f.name])
        if f.default is not None and f.name != "resume":
            assert f"(default: {getattr(d, f.name)})" in text, text
    steps = parser._get_formatter()._expand_help(flags["steps"])
    assert "500 epochs for plus2-regression" in steps and "2000 for sort" in steps and "800 for the other" in steps
    d_model = parser._get_formatter()._expand_help(flags["d_model"])
    assert f"{d.d_model} for plus2-regression, {copy.d_model} for the token tasks" in d_model


def test_flags_not_given_stay_out_of_the_settings():
    """--resume must tell a flag given from a default, so an absent flag is absent from args."""
    args = _seq2seq_parser().parse_args(["--task", "copy", "--d-model", "32"])
    given = {k: v for k, v in vars(args).items() if k in {f.name for f in dataclasses.fields(Seq2SeqRunConfig)}}
    assert given == {"task": "copy", "d_model": 32}


# --- no torch for --help -------------------------------------------------------------------------------
SRC = Path(__file__).resolve().parents[3] / "src"


def _top_level_imports(path: Path) -> set[str]:
    """Modules a file imports when it is imported: its module-level imports, not those inside a
    function or under `if TYPE_CHECKING`."""
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module != "__future__":
            names.add(node.module)
    return names


def test_the_seq2seq_cli_and_settings_import_no_torch():
    """`attnlab --help` builds this parser: following the CLI module's imports through attnlab's own
    modules reaches neither torch nor matplotlib (the root package attnlab/__init__ is the speed
    issue's, so it is not followed)."""
    todo, seen, outside = ["attnlab.cli.seq2seq"], set(), set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        parts = name.split(".")
        todo += [".".join(parts[:i]) for i in range(2, len(parts))]  # the packages on the way
        file = SRC.joinpath(*parts).with_suffix(".py")
        file = file if file.exists() else SRC.joinpath(*parts, "__init__.py")
        for imported in _top_level_imports(file):
            if imported.startswith("attnlab."):
                todo.append(imported)
            else:
                outside.add(imported.split(".")[0])
    assert "attnlab.labs.seq2seq.settings" in seen
    assert not outside & {"torch", "matplotlib", "numpy"}, outside
