"""Bad inputs to import-hf, generate, seq2seq and BPE training, each run as `python -m attnlab`
in a subprocess: exit code != 0, exactly one stderr line starting `attnlab: error:`, no
traceback, and every file that existed before byte-identical afterwards (nothing written).

Sizes are ones no machine holds (terabytes), so the memory refusals do not depend on where the
tests run. tests/cli/test_bad_inputs.py holds the table for train, run folders and
checkpoints; this one the rest of issue 9.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest
import torch

from attnlab.cli import main

SRC = Path(__file__).resolve().parents[2] / "src"
CORPUS = "to be or not to be, that is the question. " * 60  # no newline anywhere
TINY_GPT = ["--n-layers", "1", "--n-heads", "2", "--d-model", "16", "--block-size", "16", "--batch-size", "4",
            "--max-iters", "4", "--eval-interval", "2", "--eval-iters", "1", "--warmup-iters", "1",
            "--sample-tokens", "0", "--no-progress", "--device", "cpu"]
TINY_SEQ2SEQ = ["seq2seq", "--task", "reverse", "--vocab", "4", "--max-len", "3", "--d-model", "16", "--n-heads", "2",
                "--n-layers", "1", "--batch-size", "8", "--eval-size", "20", "--steps", "2", "--no-progress"]
TB = 10**12  # far beyond any machine's memory, whatever the model's width


def run_attnlab(args: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """`python -m attnlab ARGS` with this checkout's sources, offline."""
    env = {**os.environ, "PYTHONPATH": str(SRC), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "attnlab", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def snapshot(root: Path) -> dict[str, str]:
    """Every file under root -> the SHA-256 of its bytes (a new or changed file changes this)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def assert_one_line_error(result: subprocess.CompletedProcess, match: str = "") -> str:
    assert result.returncode != 0, result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("attnlab: error:"), result.stderr
    assert "Traceback" not in result.stderr and match in lines[0], result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """A tiny char GPT run trained on text without newlines, its Hugging Face export, and a
    tiny seq2seq run, all written in this process."""
    root = tmp_path_factory.mktemp("world")
    (root / "corpus.txt").write_text(CORPUS, encoding="utf-8")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(["train", "--corpus", str(root / "corpus.txt"), "--out-dir", str(root / "runs"), "--name", "tiny",
                     *TINY_GPT]) == 0
        assert main([*TINY_SEQ2SEQ, "--out", str(root / "reverse")]) == 0
        if importlib.util.find_spec("transformers") is not None:
            assert main(["export-hf", "--run", str(root / "runs" / "tiny"), "--out", str(root / "hf")]) == 0
    finally:
        torch.set_num_threads(threads)
    return root


# --- what each case puts in its own folder before it runs -------------------------------------

def hf_config(**changes) -> Callable[[Path, Path], None]:
    """A copy of the exported folder at case/hf whose config.json has `changes`."""
    def prepare(world: Path, case: Path) -> None:
        if not (world / "hf").is_dir():
            pytest.skip("export-hf needs transformers")
        shutil.copytree(world / "hf", case / "hf")
        path = case / "hf" / "config.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))  # NaN is written as NaN
    return prepare


def run_config(**model_changes) -> Callable[[Path, Path], None]:
    """A copy of the tiny GPT run at case/run whose config.json model section has `model_changes`."""
    def prepare(world: Path, case: Path) -> None:
        shutil.copytree(world / "runs" / "tiny", case / "run")
        path = case / "run" / "config.json"
        data = json.loads(path.read_text())
        data["model"].update(model_changes)
        path.write_text(json.dumps(data))
    return prepare


def tiny_run(world: Path, case: Path) -> None:
    shutil.copytree(world / "runs" / "tiny", case / "run")


def seq2seq_run(world: Path, case: Path) -> None:
    shutil.copytree(world / "reverse", case / "r")


def corpus(world: Path, case: Path) -> None:
    shutil.copy(world / "corpus.txt", case / "corpus.txt")


def a_folder_named(name: str) -> Callable[[Path, Path], None]:
    return lambda world, case: (case / name).mkdir()


def nothing(world: Path, case: Path) -> None:
    pass


IMPORT = ["import-hf", "hf", "--out", "imported"]
GENERATE = ["generate", "--run", "run", "--max-new-tokens", "5"]
TOKEN_TASK = ["seq2seq", "--task", "copy", "--no-progress", "--out", "r"]
BPE = ["train", "--corpus", "corpus.txt", "--tokenizer", "bpe", "--out-dir", "runs", *TINY_GPT]

# (id, argv, prepare, a piece of the message)
CASES = [
    # import-hf: sizes no machine holds, refused before a tensor is allocated
    ("import-hf n_layer 1000000", IMPORT, hf_config(n_layer=1_000_000, n_embd=768, n_head=12), "TB of memory"),
    ("import-hf vocab_size 10**12", IMPORT, hf_config(vocab_size=TB), "of memory"),
    ("import-hf n_positions 10**12", IMPORT, hf_config(n_positions=TB), "n_positions 1000000000000"),
    ("import-hf n_embd 2**30", IMPORT, hf_config(n_embd=2**30), "of memory"),
    # import-hf: wrong types and ranges, named with the key and the file
    ("import-hf n_layer string", IMPORT, hf_config(n_layer="2"), "config.json: n_layer must be a positive integer"),
    ("import-hf n_layer bool", IMPORT, hf_config(n_layer=True), "n_layer must be a positive integer, got True"),
    ("import-hf n_embd float", IMPORT, hf_config(n_embd=16.0), "n_embd must be a positive integer, got 16.0"),
    ("import-hf n_head null", IMPORT, hf_config(n_head=None), "n_head must be a positive integer"),
    ("import-hf n_inner negative", IMPORT, hf_config(n_inner=-1), "n_inner must be a positive integer or null"),
    ("import-hf resid_pdrop string", IMPORT, hf_config(resid_pdrop="0.1"), "resid_pdrop must be a number in [0, 1)"),
    ("import-hf layer_norm_epsilon NaN", IMPORT, hf_config(layer_norm_epsilon=float("nan")),
     "layer_norm_epsilon must be a positive number"),
    ("import-hf tie_word_embeddings string", IMPORT, hf_config(tie_word_embeddings="yes"),
     "tie_word_embeddings must be true or false"),
    ("import-hf activation_function list", IMPORT, hf_config(activation_function=["gelu"]),
     "activation_function must be one of"),
    ("import-hf n_head not dividing", IMPORT, hf_config(n_head=3), "must be divisible by n_head (3)"),
    # generate
    ("generate temperature nan", [*GENERATE, "--temperature", "nan"], tiny_run, "--temperature must be a finite"),
    ("generate temperature inf", [*GENERATE, "--temperature", "inf"], tiny_run, "--temperature must be a finite"),
    ("generate temperature negative", [*GENERATE, "--temperature", "-1"], tiny_run, "--temperature must be"),
    ("generate top-p nan", [*GENERATE, "--top-p", "nan"], tiny_run, "--top-p must be in (0, 1]"),
    ("generate seed negative", [*GENERATE, "--seed", "-1"], tiny_run, "--seed must be in [0, 2**63)"),
    ("generate seed 2**70", [*GENERATE, "--seed", str(2**70)], tiny_run, "--seed must be in [0, 2**63)"),
    ("generate max_seq_len 1e12 float", GENERATE, run_config(max_seq_len=1e12), "max_seq_len"),
    ("generate max_seq_len 10**12", GENERATE, run_config(max_seq_len=TB), "max_seq_len 1000000000000, vocab"),
    ("generate vocab_size 10**12", GENERATE, run_config(vocab_size=TB), "TB of memory"),
    ("generate n_layers 10**9", GENERATE, run_config(n_layers=10**9), "TB of memory"),
    ("attention n_layers 10**9", ["attention", "to be", "--run", "run"], run_config(n_layers=10**9), "TB of memory"),
    ("lens n_layers 10**9", ["lens", "to be", "--run", "run"], run_config(n_layers=10**9), "TB of memory"),
    ("export-hf n_layers 10**9", ["export-hf", "--run", "run", "--out", "hf2"], run_config(n_layers=10**9),
     "TB of memory"),
    ("generate missing run", GENERATE, nothing, "run folder run not found"),
    # seq2seq: sizes, before the run folder is written
    ("seq2seq d-model 10**6", [*TOKEN_TASK, "--d-model", "1000000"], nothing, "d_model 1000000"),
    ("seq2seq batch-size 10**9", [*TOKEN_TASK, "--batch-size", "1000000000"], nothing, "batch 1000000000"),
    ("seq2seq eval-size 10**9", [*TOKEN_TASK, "--eval-size", "1000000000"], nothing, "eval 1000000000"),
    ("seq2seq beam 10**9", [*TOKEN_TASK, "--beam", "1000000000"], nothing, "beam 1000000000"),
    ("seq2seq n-layers 10**8", [*TOKEN_TASK, "--n-layers", "100000000"], nothing, "100000000+100000000 layers"),
    ("seq2seq d-ff 10**12", [*TOKEN_TASK, "--d-ff", str(TB)], nothing, "of memory"),
    ("seq2seq seed 2**40", [*TOKEN_TASK, "--seed", str(2**40)], nothing, "--seed must be in [0, 2**32)"),
    ("seq2seq lr inf", [*TOKEN_TASK, "--lr", "inf"], nothing, "--lr must be a finite number > 0"),
    ("seq2seq threads 10**6", [*TOKEN_TASK, "--threads", "1000000"], nothing, "far more than"),
    ("seq2seq warmup negative", [*TOKEN_TASK, "--warmup", "-1"], nothing, "--warmup must be >= 0"),
    # seq2seq: picture paths, checked before training
    ("seq2seq png folder missing", [*TOKEN_TASK, "--png", "nowhere/cross.png"], nothing, "folder nowhere does not"),
    ("seq2seq png is a folder", [*TOKEN_TASK, "--png", "pics.png"], a_folder_named("pics.png"), "is a directory"),
    ("seq2seq png jpg", [*TOKEN_TASK, "--png", "cross.jpg"], nothing, "must end in .png, .svg or .pdf"),
    ("seq2seq pe-png svg", ["seq2seq", "--pe-png", "pe.svg"], nothing, "--pe-png pe.svg: the file name must end in"),
    ("seq2seq pe-png folder missing", ["seq2seq", "--pe-png", "nowhere/pe.png"], nothing, "does not exist"),
    # seq2seq --resume: flags that contradict the saved run, every one named
    ("seq2seq resume conflicting flags",
     ["seq2seq", "--task", "reverse", "--out", "r", "--resume", "--d-model", "32", "--batch-size", "16"],
     seq2seq_run, "--d-model (16 -> 32), --batch-size (8 -> 16)"),
    ("seq2seq resume another task", ["seq2seq", "--task", "copy", "--out", "r", "--resume"], seq2seq_run,
     "--task ('reverse' -> 'copy')"),
    ("seq2seq resume other vocab", ["seq2seq", "--out", "r", "--resume", "--vocab", "5"], seq2seq_run,
     "--vocab (4 -> 5)"),
    # BPE training: an impossible vocabulary, refused before training and before the run folder
    ("bpe vocab 10**9", [*BPE, "--vocab-size", "1000000000"], corpus, "more than this text can give"),
    ("bpe vocab below 256", [*BPE, "--vocab-size", "100"], corpus, "at least 256"),
    ("bpe vocab above the text", [*BPE, "--vocab-size", "5000"], corpus, "at most"),
]


@pytest.mark.slow
@pytest.mark.parametrize("argv,prepare,match", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_writes_nothing(world, tmp_path, argv, prepare, match):
    case = tmp_path / "case"
    case.mkdir()
    prepare(world, case)
    before = snapshot(world), snapshot(case)
    assert_one_line_error(run_attnlab(argv, cwd=case), match)
    assert (snapshot(world), snapshot(case)) == before


def test_the_table_is_big_and_its_ids_unique():
    assert len(CASES) >= 45 and len({c[0] for c in CASES}) == len(CASES)


# --- the inputs that must work -----------------------------------------------------------------

@pytest.mark.slow
def test_a_closed_pipe_ends_quietly(world):
    """`attnlab generate ... | head -c 20` with a practically endless generation: the reader
    goes away, attnlab ends with the shell's SIGPIPE status and says nothing. It also shows
    that 10**12 new tokens are not allocated up front."""
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.Popen([sys.executable, "-m", "attnlab", "generate", "--run", str(world / "runs" / "tiny"),
                             "--max-new-tokens", str(TB), "--prompt", "to be"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert len(proc.stdout.read(20)) == 20
    proc.stdout.close()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 141 and err == b"", err.decode()


@pytest.mark.slow
def test_help_into_a_closed_pipe_ends_quietly(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.Popen([sys.executable, "-m", "attnlab", "train", "--help"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    proc.stdout.close()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode in (0, 141) and err == b"", err.decode()


def test_default_prompt_without_a_newline_in_the_vocabulary(world, capsys):
    from attnlab.runs.checkpoint import load_model

    _, tokenizer = load_model(world / "runs" / "tiny")
    with pytest.raises(ValueError):
        tokenizer.encode("\n")  # the corpus has no newline
    assert main(["generate", "--run", str(world / "runs" / "tiny"), "--max-new-tokens", "10"]) == 0
    out, err = capsys.readouterr()
    first = tokenizer.decode([0])
    assert f"starting from its first token {first!r}" in err and "pass --prompt" in err
    assert out.startswith(first) and len(out) == len(first) + 10 + 1  # the prompt, 10 characters, a newline


def test_a_tiny_temperature_is_greedy(world, capsys):
    runs = []
    for temperature in ("1e-300", "0"):
        assert main(["generate", "--run", str(world / "runs" / "tiny"), "--prompt", "to be", "--max-new-tokens", "30",
                     "--temperature", temperature]) == 0
        runs.append(capsys.readouterr().out)
    assert runs[0] == runs[1] and len(runs[0]) > len("to be")


def test_resume_takes_the_saved_settings(world, tmp_path, capsys):
    """`--resume` without repeating the run's flags continues it with its own settings."""
    shutil.copytree(world / "reverse", tmp_path / "r")
    assert main(["seq2seq", "--out", str(tmp_path / "r"), "--resume", "--steps", "4", "--no-progress"]) == 0
    assert "task reverse: values 0..3, lengths 1..3" in capsys.readouterr().out
    assert json.loads((tmp_path / "r" / "state.json").read_text())["step"] == 4
