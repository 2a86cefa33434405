"""A killed run leaves the last complete state, and one run folder has one writer.

The runs here happen in child processes forked from a server that imported attnlab once
(multiprocessing's forkserver), so each start costs milliseconds, not a fresh torch import.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import shutil
import sys
import time
from pathlib import Path

import pytest
import torch

from train_helpers import TEXT  # noqa: E402

from attnlab.runs.checkpoint import checkpoint_dir  # noqa: E402
from attnlab.io import load_tensors  # noqa: E402
from attnlab.runs.metrics import read_metrics  # noqa: E402

STEPS = 6
# a tiny model that checkpoints after every step (so most instants fall inside or between saves);
# dropout makes the RNG states part of what a resume must restore
RUN = ["--n-layers", "1", "--n-heads", "2", "--d-model", "16", "--block-size", "16", "--batch-size", "4",
       "--max-iters", str(STEPS), "--eval-interval", "1", "--eval-iters", "1", "--warmup-iters", "2",
       "--dropout", "0.1", "--sample-tokens", "0", "--no-progress", "--threads", "1"]


def attnlab_in_child(argv: list[str], log: str) -> None:
    """The child: `attnlab ARGV` with stdout and stderr in files; its exit code is main's."""
    import attnlab.cli

    for fd, suffix in ((1, ".out"), (2, ".err")):
        os.dup2(os.open(log + suffix, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), fd)
    sys.stdout = open(1, "w", closefd=False)
    sys.stderr = open(2, "w", closefd=False)
    code = attnlab.cli.main(argv)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


@pytest.fixture(scope="module")
def spawner():
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["kill_preload", "test_kill"])
    return ctx


def start(ctx, argv: list[str], log: Path):
    proc = ctx.Process(target=attnlab_in_child, args=(argv, str(log)))
    proc.start()
    return proc


def finish(ctx, argv: list[str], log: Path) -> tuple[int, str]:
    proc = start(ctx, argv, log)
    proc.join(120)
    return proc.exitcode, Path(str(log) + ".err").read_text()


def history(run_dir: Path) -> list[tuple]:
    return [tuple(sorted(m.items())) for m in read_metrics(run_dir) if "dt" not in m] + \
        [(m["step"], m["loss"]) for m in read_metrics(run_dir) if "loss" in m]


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_tensors(checkpoint_dir(run_dir) / "model.safetensors")


def kills_never_give_a_run_that_differs(spawner, tmp_path, kills: int):
    """Train straight through once, then `kills` times: start, SIGKILL at a random instant,
    `--resume`; every resumed run's losses and weights equal the straight run's."""
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    common = ["train", "--corpus", str(corpus), "--out-dir", str(tmp_path / "runs"), *RUN]
    code, err = finish(spawner, [*common, "--name", "straight"], tmp_path / "straight")
    assert code == 0, err
    reference = history(tmp_path / "runs" / "straight")
    reference_weights = weights(tmp_path / "runs" / "straight")

    rng = random.Random(0)
    t0 = time.perf_counter()
    finish(spawner, [*common, "--name", "timing"], tmp_path / "timing")
    duration = time.perf_counter() - t0  # how long one whole run takes here, start to end
    outcomes = {"resumed": 0, "refused, then started again": 0}
    for kill in range(kills):
        name = f"k{kill}"
        run_dir = tmp_path / "runs" / name
        proc = start(spawner, [*common, "--name", name], tmp_path / "victim")
        time.sleep(rng.uniform(0.0, duration))
        proc.kill()  # SIGKILL: no handler, no cleanup
        proc.join()
        code, err = finish(spawner, [*common, "--name", name, "--resume"], tmp_path / "resume")
        if code != 0:  # allowed: one clear line (killed before the first checkpoint)
            lines = err.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("attnlab: error:"), err
            code, err = finish(spawner, [*common, "--name", name], tmp_path / "fresh")
            assert code == 0, err
            outcomes["refused, then started again"] += 1
        else:
            outcomes["resumed"] += 1
        assert history(run_dir) == reference, f"kill {kill}: the resumed run's losses differ"
        assert all(torch.equal(weights(run_dir)[k], v) for k, v in reference_weights.items())
        checkpoints = [p.name for p in run_dir.iterdir() if p.name.startswith("checkpoint-")]
        leftovers = [p.name for p in run_dir.iterdir() if p.name.endswith(".tmp")]
        assert len(checkpoints) == 1 and not leftovers, (checkpoints, leftovers)
        shutil.rmtree(run_dir)
    print(f"{kills} kills in runs of {duration:.1f} s: {outcomes}")


def test_two_kills_never_give_a_run_that_differs(spawner, tmp_path):
    kills_never_give_a_run_that_differs(spawner, tmp_path, kills=2)


@pytest.mark.slow
def test_fifty_kills_never_give_a_run_that_differs(spawner, tmp_path):
    kills_never_give_a_run_that_differs(spawner, tmp_path, kills=50)


def test_two_starts_on_one_name_one_trains_the_other_is_refused(spawner, tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    argv = ["train", "--corpus", str(corpus), "--out-dir", str(tmp_path / "runs"), "--name", "same", *RUN]
    procs = [start(spawner, argv, tmp_path / f"start{i}") for i in range(2)]
    for proc in procs:
        proc.join(120)
    codes = sorted(proc.exitcode for proc in procs)
    errors = [Path(f"{tmp_path}/start{i}.err").read_text().strip() for i in range(2)]
    assert codes == [0, 2], errors
    refused = [e for e, proc in zip(errors, procs) if proc.exitcode == 2][0]
    assert len(refused.splitlines()) == 1 and refused.startswith("attnlab: error:")
    assert str(tmp_path / "runs" / "same") in refused
    assert len(read_metrics(tmp_path / "runs" / "same")) == 2 * STEPS + 1  # one writer's lines, not two


def test_a_running_trainer_holds_the_folder(spawner, tmp_path):
    from filelock import FileLock

    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    argv = ["train", "--corpus", str(corpus), "--out-dir", str(tmp_path / "runs"), "--name", "held", *RUN]
    assert finish(spawner, argv, tmp_path / "first")[0] == 0
    with FileLock(str(tmp_path / "runs" / "held" / ".lock"), timeout=0):  # as a running trainer does
        code, err = finish(spawner, [*argv, "--resume", "--max-iters", str(STEPS + 2)], tmp_path / "second")
    assert code == 2 and "in use by another attnlab process" in err and len(err.strip().splitlines()) == 1
    assert finish(spawner, [*argv, "--resume", "--max-iters", str(STEPS + 2)], tmp_path / "third")[0] == 0
