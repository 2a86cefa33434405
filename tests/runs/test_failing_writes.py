"""A write that fails is one line naming the file and the cause, and loses nothing.

A file-size limit (`ulimit -f`, RLIMIT_FSIZE) is set in a child process forked from a server that
imported attnlab once (SIGXFSZ is ignored by Python, so the write fails with EFBIG); a full disk
is a small tmpfs where this machine lets the tests mount one (as root), and a writer patched to
fail with ENOSPC everywhere else. Each case: exit 2, one line `attnlab: error: could not write
FILE: CAUSE`, no traceback, the previous state byte-identical, nothing left behind, and
`--resume` afterwards continuing exactly as a run that never failed.
"""

from __future__ import annotations

import errno
import multiprocessing
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from train_helpers import TEXT, cli_main, one_thread, snapshot  # noqa: E402,F401 (one_thread: an autouse fixture)

from attnlab.io import load_tensors, write_failure  # noqa: E402
from attnlab.runs.checkpoint import checkpoint_dir  # noqa: E402
from attnlab.runs.metrics import read_metrics  # noqa: E402

# 1 layer, d_model 64: weights ~210 kB, optimizer state ~430 kB, loss.png ~40 kB; the limits
# below fall between those sizes
MODEL = ["--n-layers", "1", "--n-heads", "2", "--d-model", "64", "--block-size", "16", "--batch-size", "4",
         "--eval-interval", "3", "--eval-iters", "2", "--warmup-iters", "2", "--sample-tokens", "0",
         "--no-progress", "--threads", "1"]
WEIGHTS_FAIL = 100_000  # loss.png and the small files fit, model.safetensors does not
OPTIMIZER_FAIL = 300_000  # model.safetensors fits, optimizer.pt (torch.save) does not


def attnlab_in_child(argv: list[str], cwd: str, fsize: int | None, log: str) -> None:
    """The child: `attnlab ARGV` in cwd under a file-size limit, its stderr in a file."""
    import resource

    import attnlab.cli

    os.chdir(cwd)
    os.dup2(os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), 2)
    sys.stderr = open(2, "w", closefd=False)
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    sys.stdout = open(1, "w", closefd=False)
    if fsize is not None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, resource.RLIM_INFINITY))
    code = attnlab.cli.main(argv)
    sys.stderr.flush()
    os._exit(code)


@pytest.fixture(scope="module")
def spawner():
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["writes_preload", "test_failing_writes"])
    return ctx


def attnlab_under_limit(ctx, argv: list[str], cwd: Path, fsize: int | None) -> tuple[int, str]:
    log = cwd.parent / f"{cwd.name}.err"
    proc = ctx.Process(target=attnlab_in_child, args=(argv, str(cwd), fsize, str(log)))
    proc.start()
    proc.join(120)
    return proc.exitcode, log.read_text()


def train(name: str, steps: int, *extra: str) -> list[str]:
    return ["train", "--corpus", "corpus.txt", "--out-dir", "runs", "--name", name, *MODEL,
            "--max-iters", str(steps), *extra]


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """corpus.txt, runs/r stopped at step 3 and runs/straight trained to step 6 without a stop."""
    ws = tmp_path_factory.mktemp("writes")
    (ws / "corpus.txt").write_text(TEXT, encoding="utf-8")
    cwd = os.getcwd()
    os.chdir(ws)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert cli_main(train("r", 3)) == 0
        assert cli_main(train("straight", 6)) == 0
    finally:
        os.chdir(cwd)
        torch.set_num_threads(threads)
    return ws


@pytest.fixture
def ws(template, tmp_path) -> Path:
    ws = tmp_path / "ws"
    shutil.copytree(template, ws)
    return ws


def one_line(code: int, err: str, *words: str) -> str:
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("attnlab: error: could not write ") and "Traceback" not in err, err
    assert all(w in lines[0] for w in words), err
    return lines[0]


def history(run_dir: Path) -> list[tuple]:
    return [tuple(sorted((k, v) for k, v in m.items() if k not in ("dt", "tokens_per_s", "mfu")))
            for m in read_metrics(run_dir)]


def assert_continues_exactly(ws: Path, run: str = "r") -> None:
    """`--resume` to step 6 gives the losses and the weights of the run that never stopped."""
    cwd = os.getcwd()
    os.chdir(ws)
    try:
        assert cli_main(train(run, 6, "--resume")) == 0
    finally:
        os.chdir(cwd)
    assert history(ws / "runs" / run) == history(ws / "runs" / "straight")
    resumed, straight = (load_tensors(checkpoint_dir(ws / "runs" / r) / "model.safetensors") for r in (run, "straight"))
    assert resumed.keys() == straight.keys() and all(torch.equal(resumed[k], straight[k]) for k in resumed)


def without_log_lines(snap: dict) -> dict:
    return {p: b for p, b in snap.items() if not p.endswith(".err")}


# --- a file-size limit ---------------------------------------------------------------------------

@pytest.mark.slow
def test_file_size_limit_during_the_first_checkpoint_is_one_line_and_leaves_no_run(spawner, ws):
    before = snapshot(ws)
    code, err = attnlab_under_limit(spawner, train("new", 6), ws, WEIGHTS_FAIL)
    one_line(code, err, "runs/new/checkpoint-000003-", "model.safetensors: file too large",
             f"ulimit -f, is {WEIGHTS_FAIL} bytes")
    assert without_log_lines(snapshot(ws)) == before  # the new run's folder is gone, nothing else changed
    os.chdir(ws)
    assert cli_main(train("new", 6)) == 0  # the name is free again


@pytest.mark.slow
def test_file_size_limit_during_a_later_checkpoint_keeps_step_3_and_resume_continues_exactly(spawner, ws):
    before = snapshot(ws / "runs" / "r")
    code, err = attnlab_under_limit(spawner, train("r", 6, "--resume"), ws, OPTIMIZER_FAIL)
    one_line(code, err, "runs/r/checkpoint-000006-", "optimizer.pt: file too large", "keeps its checkpoint of step 3")
    after = snapshot(ws / "runs" / "r")
    assert not [p for p in after if p.startswith("checkpoint-000006") or p.endswith(".tmp")]
    kept = [p for p in before if p not in ("metrics.jsonl", "loss.png", ".attnlab-files")]
    assert {p: after.get(p) for p in kept} == {p: before[p] for p in kept}  # step 3's checkpoint and state
    assert_continues_exactly(ws)


@pytest.mark.slow
def test_file_size_limit_during_export_hf_is_one_line_and_keeps_the_old_export(spawner, ws):
    os.chdir(ws)
    assert cli_main(["export-hf", "--run", "runs/r", "--out", "exported"]) == 0
    before = snapshot(ws)
    argv = ["export-hf", "--run", "runs/r", "--out", "exported", "--overwrite"]  # a new --out: the tmpfs test
    code, err = attnlab_under_limit(spawner, argv, ws, WEIGHTS_FAIL)
    one_line(code, err, "model.safetensors: file too large", "exported: it keeps what it held")
    assert without_log_lines(snapshot(ws)) == before


# --- a full disk ---------------------------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path):
    """A 4 MB tmpfs (needs root and a kernel that allows the mount; skipped otherwise)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or sys.platform != "linux":
        pytest.skip("mounting a tmpfs needs root on Linux")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def fill(disk: Path, leave: int) -> Path:
    """A file that leaves `leave` bytes free on disk."""
    st = os.statvfs(disk)
    filler = disk / "filler"
    with open(filler, "wb") as f:
        f.write(b"\0" * (st.f_bavail * st.f_frsize - leave))
    return filler


@pytest.mark.slow
def test_full_disk_during_a_later_checkpoint_keeps_step_3_and_resume_continues_exactly(spawner, ws, small_disk):
    shutil.copy(ws / "corpus.txt", small_disk / "corpus.txt")
    (small_disk / "runs").mkdir()
    shutil.copytree(ws / "runs" / "r", small_disk / "runs" / "r")
    shutil.copytree(ws / "runs" / "straight", small_disk / "runs" / "straight")
    filler = fill(small_disk, 400_000)  # the weights fit, the optimizer state does not
    before = snapshot(small_disk / "runs" / "r")
    code, err = attnlab_under_limit(spawner, train("r", 6, "--resume"), small_disk, None)
    one_line(code, err, "runs/r/checkpoint-000006-", ": no space left on device", "keeps its checkpoint of step 3")
    after = snapshot(small_disk / "runs" / "r")
    assert not [p for p in after if p.startswith("checkpoint-000006") or p.endswith(".tmp")]
    assert {p: after[p] for p in before if p.startswith("checkpoint-") or p == "state.json"} == \
        {p: before[p] for p in before if p.startswith("checkpoint-") or p == "state.json"}
    filler.unlink()
    assert_continues_exactly(small_disk)


@pytest.mark.slow
def test_full_disk_during_export_hf_is_one_line_and_writes_nothing(spawner, ws, small_disk):
    shutil.copy(ws / "corpus.txt", small_disk / "corpus.txt")
    shutil.copytree(ws / "runs" / "r", small_disk / "r")
    fill(small_disk, 100_000)
    before = snapshot(small_disk)
    code, err = attnlab_under_limit(spawner, ["export-hf", "--run", "r", "--out", "exported"], small_disk, None)
    one_line(code, err, "no space left on device", "exported: nothing was written there")
    assert without_log_lines(snapshot(small_disk)) == before


# --- a patched writer (a full disk on any machine) ------------------------------------------------

def enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_writer_failing_with_enospc_during_a_later_checkpoint_is_one_line(ws, capsys, monkeypatch):
    monkeypatch.chdir(ws)
    before = snapshot(ws / "runs" / "r")
    monkeypatch.setattr(torch, "save", enospc)  # optimizer.pt: what a full disk does to torch.save
    assert cli_main(train("r", 6, "--resume")) == 2
    err = capsys.readouterr().err
    one_line(2, err, "runs/r/checkpoint-000006-", "optimizer.pt: no space left on device",
             "keeps its checkpoint of step 3")
    after = snapshot(ws / "runs" / "r")
    assert not [p for p in after if p.startswith("checkpoint-000006") or p.endswith(".tmp")]
    assert {p: after[p] for p in before if p.startswith("checkpoint-") or p == "state.json"} == \
        {p: before[p] for p in before if p.startswith("checkpoint-") or p == "state.json"}
    monkeypatch.undo()
    assert_continues_exactly(ws)


def test_a_writer_failing_with_enospc_during_the_first_checkpoint_leaves_no_run(ws, capsys, monkeypatch):
    monkeypatch.chdir(ws)
    before = snapshot(ws)
    monkeypatch.setattr(torch, "save", enospc)
    assert cli_main(train("new", 6)) == 2
    one_line(2, capsys.readouterr().err, "runs/new/checkpoint-000003-", "optimizer.pt: no space left on device")
    assert snapshot(ws) == before


def test_torch_saves_unexpected_pos_on_a_full_disk_is_named_as_a_full_disk(tmp_path, monkeypatch):
    """torch.save says only `unexpected pos 704 vs 598`: the cause is read off the disk."""
    import attnlab.io

    class Full:
        f_bavail, f_frsize = 0, 4096

    monkeypatch.setattr(attnlab.io.os, "statvfs", lambda path: Full())
    (tmp_path / "x.tmp").write_bytes(b"half")
    message = str(write_failure(tmp_path / "optimizer.pt", RuntimeError(
        "[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598"), tmp_path / "x.tmp"))
    assert message == f"could not write {tmp_path / 'optimizer.pt'}: no space left on device"
    safetensors_words = "Error while serializing: I/O error: File too large (os error 27)"
    assert str(write_failure("w.safetensors", RuntimeError(safetensors_words))) == \
        "could not write w.safetensors: file too large"
