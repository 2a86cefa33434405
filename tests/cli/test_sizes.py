"""Every size a command takes is checked before it sizes anything: 0, a size too large for any
memory, 10**20 and a seed of 23 digits are each one line `attnlab: error: ...`, exit code 2, and
nothing allocated (the process's peak memory stays where it was: a refusal after the allocation
would have raised it by gigabytes, or failed with a traceback).

Two tables: every integer flag of every lab at 10**20 (config.check_bounds, through
labs/shape.py), then each command's size flags at 0 and at a size that only the memory check
refuses, with the sizes that come from files (a sae.json claiming 10**9 features, a run's
config.json whose batches hold 10**10 tokens).
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import resource
import shutil
from pathlib import Path

import pytest

from train_helpers import TEXT, TINY, cli_main, refused_in_one_line

HUGE = 10**20
SEED = "12345678901234567890123"  # 23 digits: more than torch.manual_seed takes
MB = 1024  # ru_maxrss counts kB on Linux
GROWTH = 512 * MB  # what a refused case may add to the peak: far below any allocation it refuses

# Each lab's settings and the arguments it needs besides the flag under test (a positional text).
LABS = {"grokking": ("attnlab.labs.grokking.config", "LAB", []),
        "superposition": ("attnlab.labs.superposition.config", "LAB", []),
        "induction": ("attnlab.labs.induction.config", "LAB", []),
        "ladder": ("attnlab.labs.ladder.settings", "LAB", []),
        "seq2seq": ("attnlab.labs.seq2seq.settings", "LAB", []),
        "sae": ("attnlab.labs.sae.settings", "LAB", ["--run", "runs/r"]),
        "features": ("attnlab.labs.sae.settings", "FEATURES", ["--run", "runs/r"]),
        "lens": ("attnlab.labs.lens.settings", "LAB", ["To be"]),
        "patch": ("attnlab.labs.patching.settings", "LAB", []),
        "ablate": ("attnlab.labs.ablation.settings", "LAB", []),
        "attribute": ("attnlab.labs.attribution.settings", "LAB", ["To be"]),
        "why": ("attnlab.labs.why.settings", "LAB", ["To be"])}


def _int_flags() -> list[tuple[str, list[str], str]]:
    cases = []
    for command, (module, name, extra) in LABS.items():
        lab = getattr(importlib.import_module(module), name)
        for f in dataclasses.fields(lab.settings):
            if str(f.type).split("|")[0].strip() in ("int", "tuple[int, ...]"):
                flag = "--" + f.name.replace("_", "-")
                value, words = (SEED, f"{flag} must be in [0, 2**63)") if f.name == "seed" else \
                    (str(HUGE), f"{flag} must be at most 10**12")
                cases.append((f"{command} {flag}", [command, *extra, flag, value], words))
    return cases


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """A tiny trained run, with two SAE folders as far as sae.json goes: the default one (its sizes
    true) and one whose sae.json claims 10**9 features. Nothing refused reads further."""
    ws = tmp_path_factory.mktemp("sizes")
    (ws / "corpus.txt").write_text(TEXT, encoding="utf-8")
    assert cli_main(["train", "--corpus", str(ws / "corpus.txt"), "--out-dir", str(ws / "runs"), "--name", "r",
                     *TINY]) == 0
    for folder, features in (("sae-blocks.0.ffwd.hidden-x4", 256), ("sae-claims", 10**9)):
        (ws / "runs" / "r" / folder).mkdir()
        (ws / "runs" / "r" / folder / "sae.json").write_text(json.dumps(
            {"point": "blocks.0.ffwd.hidden", "d_in": 64, "features": features}), encoding="utf-8")
    shutil.copytree(ws / "runs" / "r", ws / "runs" / "wide")  # its config.json: batches of 10**9 windows
    config = json.loads((ws / "runs" / "wide" / "config.json").read_text(encoding="utf-8"))
    config["train"]["batch_size"] = 10**9
    (ws / "runs" / "wide" / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return ws


@pytest.fixture
def ws(workspace, monkeypatch, capsys) -> Path:
    monkeypatch.chdir(workspace)
    capsys.readouterr()  # the fixture's training output
    return workspace


def refused_without_allocating(argv: list[str], ws: Path, capsys, words: str) -> None:
    """One line holding `words`, exit code 2, nothing written, the peak memory as it was."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert refused_in_one_line(argv, ws, capsys, words) == 2
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown < GROWTH, f"the peak memory grew by {grown // MB} MB before the refusal"


@pytest.mark.parametrize("name,argv,words", _int_flags(), ids=[c[0] for c in _int_flags()])
def test_every_lab_integer_flag_is_bounded(ws, capsys, name, argv, words):
    refused_without_allocating(argv, ws, capsys, words)


MEMORY = "of memory, but"  # require_memory's line: the size and the figure

SIZES = [
    # grokking: p sizes a p*p table, the model's vocabulary and an evaluation's (p*p, p+1) logits
    ("grokking p 0", ["grokking", "--p", "0"], "--p must be a prime >= 3"),
    ("grokking p huge", ["grokking", "--p", "10007", "--steps", "1"], "--p 10007 (a table of 100140049 pairs"),
    ("grokking p 1000003", ["grokking", "--p", "1000003", "--steps", "1"], MEMORY),
    ("grokking p 10**20", ["grokking", "--p", str(HUGE)], "--p must be at most 10**12"),
    ("grokking steps 0", ["grokking", "--steps", "0"], "--steps must be >= 1"),
    ("grokking steps 10**20", ["grokking", "--steps", str(HUGE)], "--steps must be at most 10**12"),
    ("grokking seed 23 digits", ["grokking", "--seed", SEED, "--steps", "1"], "--seed must be in [0, 2**63)"),
    # sae: expansion × width features (weights and Adam state), tokens × width activations
    ("sae expansion 0", ["sae", "--run", "runs/r", "--expansion", "0"], "--expansion must be a whole number"),
    ("sae expansion huge", ["sae", "--run", "runs/r", "--expansion", "100000", "--steps", "1"],
     "an SAE of 6400000 features (--expansion 100000 x width 64)"),
    ("sae expansion 10**20", ["sae", "--run", "runs/r", "--expansion", str(HUGE)], "--expansion must be at most"),
    ("sae tokens 0", ["sae", "--run", "runs/r", "--tokens", "0"], "too few tokens"),
    ("sae tokens huge", ["sae", "--run", "runs/r", "--tokens", "100000000000"], MEMORY),
    ("sae tokens 10**20", ["sae", "--run", "runs/r", "--tokens", str(HUGE)], "--tokens must be at most 10**12"),
    ("sae eval-tokens 0", ["sae", "--run", "runs/r", "--eval-tokens", "0"], "--eval-tokens must be at least 1"),
    ("sae eval-tokens huge", ["sae", "--run", "runs/r", "--eval-tokens", "500000000"], MEMORY),
    ("sae batch-size 0", ["sae", "--run", "runs/r", "--batch-size", "0"], "--batch-size must be at least 1"),
    ("sae batch-size huge", ["sae", "--run", "runs/r", "--batch-size", "100000000", "--tokens", "100000000"],
     MEMORY),
    ("sae steps 0", ["sae", "--run", "runs/r", "--steps", "0"], "--steps must be at least 1"),
    ("sae seed 23 digits", ["sae", "--run", "runs/r", "--seed", SEED], "--seed must be in [0, 2**63)"),
    # features: tokens × (width + features) activations, the SAE's sizes as its sae.json says
    ("features tokens 0", ["features", "--run", "runs/r", "--tokens", "0"], "--top and --tokens must be at least 1"),
    ("features tokens huge", ["features", "--run", "runs/r", "--tokens", "500000000"],
     "browsing the 256 features of width 64"),
    ("features tokens 1e12", ["features", "--run", "runs/r", "--tokens", str(10**12)], MEMORY),
    ("features tokens 10**20", ["features", "--run", "runs/r", "--tokens", str(HUGE)], "--tokens must be at most"),
    ("features top 0", ["features", "--run", "runs/r", "--top", "0"], "--top and --tokens must be at least 1"),
    ("features sae.json 10**9 features", ["features", "--run", "runs/r", "--sae", "sae-claims"],
     "browsing the 1000000000 features of width 64"),
    # a run's config.json sizes what is drawn from it: whole batches, here of 10**9 windows
    ("sae on a run of batch_size 10**9", ["sae", "--run", "runs/wide"], MEMORY),
    ("features on a run of batch_size 10**9", ["features", "--run", "runs/wide"], MEMORY),
    # superposition: instances × features weights, instances × batch × features a step
    ("superposition steps 0", ["superposition", "--steps", "0"], "--steps"),
    ("superposition steps 10**20", ["superposition", "--steps", str(HUGE)], "--steps must be at most 10**12"),
    ("superposition features 0", ["superposition", "--features", "0"], "--features"),
    ("superposition features huge", ["superposition", "--features", "100000000", "--importance", "1"], MEMORY),
    ("superposition batch-size huge", ["superposition", "--batch-size", "1000000000"], MEMORY),
    ("superposition seed 23 digits", ["superposition", "--seed", SEED], "--seed must be in [0, 2**63)"),
    # train: the same bounds through TrainConfig (a run's config.json is read through it too)
    ("train seed 23 digits", ["train", "--corpus", "corpus.txt", "--out-dir", "runs", "--name", "n", "--seed", SEED],
     "seed must be in [0, 2**63)"),
    ("train max-iters 10**20", ["train", "--corpus", "corpus.txt", "--out-dir", "runs", "--name", "n",
                                "--max-iters", str(HUGE)], "max_iters must be at most 10**12"),
]


@pytest.mark.parametrize("name,argv,words", SIZES, ids=[c[0] for c in SIZES])
def test_each_size_is_refused_before_it_is_allocated(ws, capsys, name, argv, words):
    refused_without_allocating(argv, ws, capsys, words)
