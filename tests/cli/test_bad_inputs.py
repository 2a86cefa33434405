"""Every bad input is one line and loses nothing.

Each case runs `attnlab ...` in a copy of one workspace (a corpus, a trained run, a learner's
own project folder with a config.json of its own, an exported model) and asserts the four
promises: a non-zero exit code, exactly one line on stderr starting `attnlab: error:`, no
traceback, and every file and folder of the workspace exactly as it was (nothing deleted,
nothing changed, nothing left behind).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from train_helpers import TEXT, TINY, cli_main, copy_workspace, one_thread, refused_in_one_line  # noqa: E402,F401 (one_thread: an autouse fixture)

from attnlab.runs.checkpoint import checkpoint_dir  # noqa: E402

RUN = "runs/r"  # a trained run inside the workspace
NEW = ["train", "--corpus", "corpus.txt", "--out-dir", "runs", *TINY]  # a new run, in the workspace
RESUME = ["train", "--corpus", "corpus.txt", "--out-dir", "runs", "--name", "r", "--resume", *TINY]


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    ws = tmp_path_factory.mktemp("workspace")
    (ws / "corpus.txt").write_text(TEXT, encoding="utf-8")
    (ws / "empty.txt").write_text("", encoding="utf-8")
    (ws / "nonl.txt").write_text(TEXT.replace("\n", " "), encoding="utf-8")
    project = ws / "proj"  # a learner's project: its own config.json, code and notes
    project.mkdir()
    (project / "config.json").write_text('{"my": "settings"}\n', encoding="utf-8")
    (project / "notes.md").write_text("my notes\n", encoding="utf-8")
    (project / "src").mkdir()
    (project / "src" / "main.py").write_text("print('hi')\n", encoding="utf-8")
    cwd = os.getcwd()
    os.chdir(ws)
    try:
        assert cli_main(["train", "--corpus", "corpus.txt", "--out-dir", "runs", "--name", "r", *TINY]) == 0
    finally:
        os.chdir(cwd)
    return ws


@pytest.fixture
def ws(template, tmp_path, monkeypatch) -> Path:
    return copy_workspace(template, tmp_path, monkeypatch)


# --- how a case prepares the workspace --------------------------------------------------------

def edit_json(path: str, **changes):
    def prepare(ws: Path) -> None:
        data = json.loads((ws / path).read_text())
        (ws / path).write_text(json.dumps({**data, **changes}))
    return prepare


def write(path: str, content: str | bytes):
    def prepare(ws: Path) -> None:
        (ws / path).parent.mkdir(parents=True, exist_ok=True)
        data = content.encode() if isinstance(content, str) else content
        (ws / path).write_bytes(data)
    return prepare


def in_checkpoint(action):
    def prepare(ws: Path) -> None:
        action(checkpoint_dir(ws / RUN))
    return prepare


def stamp_another_step(folder: Path) -> None:
    """A hand-mixed checkpoint: the weights of another step beside this step's state."""
    from safetensors.torch import load_file, save_file

    save_file(load_file(str(folder / "model.safetensors")), str(folder / "model.safetensors"),
              metadata={"format": "pt", "step": "3"})


def toml(text: str):
    return write("run.toml", text)


# (id, argv, what the error line must say, how to prepare the workspace, the working folder)
CASES = [
    # --name is a plain folder name
    ("name-parent", [*NEW, "--name", "../x"], "plain folder name", None, "."),
    ("name-absolute", [*NEW, "--name", "/tmp/attnlab-abs"], "plain folder name", None, "."),
    ("name-dot", [*NEW, "--name", "."], "plain folder name", None, "."),
    ("name-dotdot", [*NEW, "--name", ".."], "plain folder name", None, "."),
    ("name-nested", [*NEW, "--name", "a/b"], "plain folder name", None, "."),
    ("name-hidden", [*NEW, "--name", ".hidden"], "plain folder name", None, "."),
    # attnlab deletes only what it wrote
    ("overwrite-project-as-cwd", ["train", "--corpus", "../corpus.txt", "--out-dir", ".", "--name", ".",
                                  "--overwrite", *TINY], "plain folder name", None, "proj"),
    ("overwrite-project", [*NEW[:3], "--out-dir", ".", "--name", "proj", "--overwrite", *TINY],
     "not created by attnlab", None, "."),
    ("new-into-project", [*NEW[:3], "--out-dir", ".", "--name", "proj", *TINY], "not created by attnlab", None, "."),
    ("overwrite-foreign-file", [*NEW, "--name", "r", "--overwrite"], "did not write (notes.txt)",
     write(f"{RUN}/notes.txt", "mine"), "."),
    ("overwrite-cwd-run", ["train", "--corpus", "../../corpus.txt", "--out-dir", "..", "--name", "r", "--overwrite",
                           *TINY], "working directory", None, RUN),
    ("run-exists", [*NEW, "--name", "r"], "already exists", None, "."),
    ("resume-and-overwrite", [*RESUME, "--overwrite"], "contradict", None, "."),
    ("out-dir-is-a-file", [*NEW[:3], "--out-dir", "corpus.txt", "--name", "x", *TINY], "corpus.txt", None, "."),
    # every setting checked before anything is written
    ("beta1", [*NEW, "--name", "n", "--beta1", "2"], "beta1", None, "."),
    ("beta2-negative", [*NEW, "--name", "n", "--beta2", "-0.5"], "beta2", None, "."),
    ("d-ff-negative", [*NEW, "--name", "n", "--d-ff", "-5"], "d_ff", None, "."),
    ("d-ff-zero", [*NEW, "--name", "n", "--d-ff", "0"], "d_ff", None, "."),
    ("grad-clip-nan", [*NEW, "--name", "n", "--grad-clip", "nan"], "grad_clip", None, "."),
    ("lr-nan", [*NEW, "--name", "n", "--learning-rate", "nan"], "learning_rate", None, "."),
    ("lr-inf", [*NEW, "--name", "n", "--learning-rate", "inf"], "learning_rate", None, "."),
    ("lr-negative", [*NEW, "--name", "n", "--learning-rate", "-1"], "learning_rate", None, "."),
    ("lr-text", [*NEW, "--name", "n", "--learning-rate", "fast"], "invalid float", None, "."),
    ("dropout", [*NEW, "--name", "n", "--dropout", "1.5"], "dropout", None, "."),
    ("heads-divide", [*NEW, "--name", "n", "--n-heads", "3"], "divisible", None, "."),
    ("block-size-zero", [*NEW, "--name", "n", "--block-size", "0"], "block_size", None, "."),
    ("batch-negative", [*NEW, "--name", "n", "--batch-size", "-1"], "batch_size", None, "."),
    ("max-iters-zero", [*NEW, "--name", "n", "--max-iters", "0"], "max_iters", None, "."),
    ("eval-interval-zero", [*NEW, "--name", "n", "--eval-interval", "0"], "eval_interval", None, "."),
    ("warmup-negative", [*NEW, "--name", "n", "--warmup-iters", "-1"], "warmup_iters", None, "."),
    ("min-lr-above-lr", [*NEW, "--name", "n", "--min-lr", "1"], "min_lr", None, "."),
    ("val-fraction", [*NEW, "--name", "n", "--val-fraction", "1.5"], "val_fraction", None, "."),
    ("vocab-size-zero", [*NEW, "--name", "n", "--vocab-size", "0"], "vocab_size", None, "."),
    ("seed-negative", [*NEW, "--name", "n", "--seed", "-1"], "seed", None, "."),
    ("sample-tokens", [*NEW, "--name", "n", "--sample-tokens", "-1"], "sample-tokens", None, "."),
    ("threads", [*NEW, "--name", "n", "--threads", "-2"], "threads", None, "."),
    ("tokenizer", [*NEW, "--name", "n", "--tokenizer", "words"], "tokenizer", None, "."),
    ("activation", [*NEW, "--name", "n", "--activation", "swish"], "activation", None, "."),
    ("norm", [*NEW, "--name", "n", "--norm", "middle"], "norm", None, "."),
    ("dtype", [*NEW, "--name", "n", "--dtype", "fp8"], "dtype", None, "."),
    ("device", [*NEW, "--name", "n", "--device", "tpu"], "device", None, "."),
    ("preset", [*NEW, "--name", "n", "--preset", "huge"], "preset", None, "."),
    ("corpus-missing", [*NEW[:1], "--corpus", "missing.txt", "--out-dir", "runs", "--name", "n", *TINY],
     "missing.txt", None, "."),
    ("corpus-empty", [*NEW[:1], "--corpus", "empty.txt", "--out-dir", "runs", "--name", "n", *TINY], "", None, "."),
    # the memory a model needs is checked against what there is, with the figures
    ("memory-width", [*NEW, "--name", "n", "--d-model", "65536", "--n-heads", "1", "--n-layers", "64"],
     "available", None, "."),
    ("memory-batch", [*NEW, "--name", "n", "--batch-size", "1000000000"], "available", None, "."),
    # TOML: types and keys
    ("toml-missing", [*NEW, "--name", "n", "--config", "nope.toml"], "nope.toml", None, "."),
    ("toml-syntax", [*NEW, "--name", "n", "--config", "run.toml"], "not valid TOML", toml("max_iters = \n"), "."),
    ("toml-unknown", [*NEW, "--name", "n", "--config", "run.toml"], "unknown", toml("speed = 3\n"), "."),
    ("toml-bias-no", [*NEW, "--name", "n", "--config", "run.toml"], "bias", toml('bias = "no"\n'), "."),
    ("toml-lr-text", [*NEW, "--name", "n", "--config", "run.toml"], "learning_rate",
     toml('learning_rate = "fast"\n'), "."),
    ("toml-dropout-text", [*NEW, "--name", "n", "--config", "run.toml"], "dropout", toml('dropout = "0.1"\n'), "."),
    ("toml-int-bool", [*NEW, "--name", "n", "--config", "run.toml"], "grad_accum_steps",
     toml("grad_accum_steps = true\n"), "."),
    ("toml-int-float", [*NEW, "--name", "n", "--config", "run.toml"], "log_interval", toml("log_interval = 2.5\n"), "."),
    # resume: what is on disk is checked before it is used
    ("resume-missing", [*RESUME[:6], "nope", *RESUME[7:]], "nothing to resume", None, "."),
    ("resume-conflict", [*RESUME, "--d-model", "32"], "conflicting", None, "."),
    ("resume-negative-step", RESUME, "step", edit_json(f"{RUN}/state.json", step=-100), "."),
    ("resume-step-text", RESUME, "step", edit_json(f"{RUN}/state.json", step="ten"), "."),
    ("resume-state-not-json", RESUME, "state.json", write(f"{RUN}/state.json", "{oops"), "."),
    ("resume-checkpoint-escape", RESUME, "checkpoint", edit_json(f"{RUN}/state.json", checkpoint="../../proj"), "."),
    ("resume-metrics-step-text", RESUME, "metrics.jsonl", write(f"{RUN}/metrics.jsonl", '{"step": "ten"}\n{}\n'),
     "."),
    ("resume-metrics-not-utf8", RESUME, "metrics.jsonl", write(f"{RUN}/metrics.jsonl", b'{"step": 1}\n\xff\xfe\n'),
     "."),
    ("resume-mixed-steps", RESUME, "mixes two checkpoints", in_checkpoint(stamp_another_step), "."),
    ("resume-weights-missing", RESUME, "model.safetensors",
     in_checkpoint(lambda folder: (folder / "model.safetensors").unlink()), "."),
    ("resume-config-bad-type", RESUME, "n_layers", None, "."),  # prepared below: config.json n_layers "4"
    # readers
    ("generate-missing", ["generate", "--run", "runs/nope"], "not found", None, "."),
    ("generate-project", ["generate", "--run", "proj"], "config", None, "."),
    ("generate-temperature", ["generate", "--run", RUN, "--temperature", "-1"], "temperature", None, "."),
    ("generate-top-p", ["generate", "--run", RUN, "--top-p", "2"], "top-p", None, "."),
    ("generate-prompt", ["generate", "--run", RUN, "--prompt", "세계"], "vocabulary", None, "."),
    ("generate-lost-checkpoint", ["generate", "--run", RUN], "not found",
     edit_json(f"{RUN}/state.json", checkpoint="checkpoint-999999"), "."),
    ("attention-missing", ["attention", "to be", "--run", "runs/nope"], "no run folder", None, "."),
    ("explain-bad-json", ["explain", "--weights", "[0.1", "--values", "[[1]]"], "weights", None, "."),
    ("shapes-zero", ["shapes", "--d-model", "0"], "d_model", None, "."),
    # export and import: never replace a folder attnlab did not write
    ("export-over-project", ["export-hf", "--run", RUN, "--out", "proj", "--overwrite"], "not created by attnlab",
     None, "."),
    ("export-over-cwd", ["export-hf", "--run", "../runs/r", "--out", ".", "--overwrite"], "working directory",
     None, "proj"),
    ("export-missing-run", ["export-hf", "--run", "runs/nope", "--out", "exported"], "not found", None, "."),
    ("import-over-project", ["import-hf", "proj", "--out", "proj", "--overwrite"], "", None, "."),
    ("import-not-hf", ["import-hf", "runs", "--out", "imported"], "config.json", None, "."),
    ("unknown-command", ["trian"], "invalid choice", None, "."),
    ("unknown-flag", ["train", "--fast"], "unrecognized", None, "."),
]


def _config_n_layers_text(ws: Path) -> None:
    edit = json.loads((ws / RUN / "config.json").read_text())
    edit["model"]["n_layers"] = "4"
    (ws / RUN / "config.json").write_text(json.dumps(edit))


PREPARE_BY_ID = {"resume-config-bad-type": _config_n_layers_text}


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_loses_nothing(ws, capsys, monkeypatch, case):
    case_id, argv, words, prepare, cwd = case
    prepare = prepare or PREPARE_BY_ID.get(case_id)
    if prepare is not None:
        prepare(ws)
    monkeypatch.chdir(ws / cwd)
    refused_in_one_line(argv, ws, capsys, words)

