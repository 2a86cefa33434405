"""A run folder's bookkeeping files are input: a run folder from someone else (a course, a friend,
a zip) cannot make attnlab delete or write outside it.

Every spelling of a manifest or marker entry that is not one plain name inside the folder
(relative escapes, absolute paths, '.', '..', '', separators, NUL, line breaks) is ignored with a
warning naming it; a symlink entry is removed as a link at most; a marker, manifest, lock or
state.json that is a symlink or not a regular file is refused in one line; a state.json whose
checkpoint is not a complete checkpoint folder is refused before anything is touched. Each case
checks that every file outside the run folder, and every file of the user's, is byte-identical.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from train_helpers import (TEXT, TINY, cli_main, copy_workspace, one_thread,  # noqa: F401 (autouse)
                           refused_in_one_line, snapshot)

from attnlab.io import MANIFEST, manifest_line, read_manifest
from attnlab.runs.folder import LOCK, MARKER, open_lab_folder

RUN = "runs/r"
TRAIN = ["train", "--corpus", "corpus.txt", "--out-dir", "runs", "--name", "r", *TINY, "--sample-tokens", "0"]
RESUME = [*TRAIN, "--resume", "--max-iters", "9"]
OVERWRITE = [*TRAIN, "--overwrite"]


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    ws = tmp_path_factory.mktemp("bookkeeping")
    (ws / "corpus.txt").write_text(TEXT, encoding="utf-8")
    (ws / "outside").mkdir()
    (ws / "outside" / "keep.txt").write_text("a file of the user's, outside the run")
    (ws / "runs" / "precious").mkdir(parents=True)
    (ws / "runs" / "precious" / "notes.txt").write_text("a sibling of the run")
    cwd = os.getcwd()
    os.chdir(ws)
    try:
        assert cli_main(TRAIN) == 0
    finally:
        os.chdir(cwd)
    return ws


@pytest.fixture
def ws(template, tmp_path, monkeypatch) -> Path:
    return copy_workspace(template, tmp_path, monkeypatch)


def outside_the_run(ws: Path) -> dict[str, bytes | None]:
    return {p: b for p, b in snapshot(ws).items() if not p.startswith(RUN + "/")}


def bad_spellings(ws: Path) -> list[str]:
    """Every way a manifest or marker entry can point outside the folder, or at the folder itself."""
    return ["..", ".", "", "../precious", "../../outside", str(ws / "outside"), "/", "tokenizer/..",
            "a/b", "..\\outside", "x\0y", "x\ny"]


def append_entries(run: Path, names: list[str]) -> None:
    with open(run / MANIFEST, "a", encoding="utf-8") as f:
        for name in names:
            f.write(manifest_line(name, temp=True))


@pytest.mark.parametrize("argv", [RESUME, OVERWRITE], ids=["resume", "overwrite"])
def test_manifest_entries_outside_the_folder_are_ignored_with_a_warning(ws, capsys, argv):
    run = ws / RUN
    spellings = bad_spellings(ws)
    append_entries(run, spellings)
    outside = outside_the_run(ws)
    assert cli_main(argv) == 0, capsys.readouterr().err
    err = capsys.readouterr().err
    assert outside_the_run(ws) == outside  # the run's parent, its siblings, an absolute path: untouched
    assert (run / "state.json").is_file() and (run / "config.json").is_file()  # the run itself is whole
    for name in spellings:
        assert f"lists {name!r}" in err, name  # each ignored entry named in a warning
    assert set(read_manifest(run)) <= {p.name for p in run.iterdir()}


@pytest.mark.parametrize("argv", [RESUME, OVERWRITE], ids=["resume", "overwrite"])
def test_a_recorded_symlink_is_removed_as_a_link_and_its_target_kept(ws, capsys, argv):
    run = ws / RUN
    (run / "checkpoint-000001-linked").symlink_to(ws / "outside", target_is_directory=True)
    append_entries(run, ["checkpoint-000001-linked"])
    outside = outside_the_run(ws)
    assert cli_main(argv) == 0, capsys.readouterr().err
    assert outside_the_run(ws) == outside
    assert not os.path.lexists(run / "checkpoint-000001-linked")  # the link, not what it points at


def test_marker_files_outside_the_folder_are_ignored_by_overwrite(ws, capsys):
    run = ws / RUN
    marker = json.loads((run / MARKER).read_text())
    marker["files"] += ["..", "../precious", str(ws / "outside"), ".", ""]
    (run / MARKER).write_text(json.dumps(marker))
    outside = outside_the_run(ws)
    assert cli_main(OVERWRITE) == 0, capsys.readouterr().err
    assert "lists '../precious'" in capsys.readouterr().err
    assert outside_the_run(ws) == outside


@pytest.mark.parametrize("name", [MANIFEST, MARKER, LOCK, "state.json"])
def test_a_bookkeeping_file_that_is_a_symlink_is_refused_in_one_line(ws, capsys, name):
    run = ws / RUN
    target = ws / "outside" / "keep.txt"
    if os.path.lexists(run / name):
        (run / name).unlink()
    (run / name).symlink_to(target)
    assert refused_in_one_line(RESUME, ws, capsys, f"{name} is a symlink") == 2


def test_a_manifest_pointing_at_dev_zero_is_refused_at_once(ws, capsys):
    run = ws / RUN
    (run / MANIFEST).unlink()
    (run / MANIFEST).symlink_to("/dev/zero")
    before = {p: b for p, b in snapshot(ws / "runs" / "precious").items()}
    assert cli_main(RESUME) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "a symlink" in lines[0] and MANIFEST in lines[0]
    assert os.readlink(run / MANIFEST) == "/dev/zero" and snapshot(ws / "runs" / "precious") == before


@pytest.mark.parametrize("checkpoint", ["", ".", "..", "tokenizer", "config.json", "../outside",
                                        "checkpoint-000004-nothere", "checkpoint-000001-empty"])
def test_a_state_json_checkpoint_that_is_not_a_complete_checkpoint_is_refused_untouched(ws, capsys, checkpoint):
    run = ws / RUN
    (run / "checkpoint-000001-empty").mkdir()  # a folder of the right name with no weights in it
    state = json.loads((run / "state.json").read_text())
    (run / "state.json").write_text(json.dumps({**state, "checkpoint": checkpoint}))
    assert refused_in_one_line(RESUME, ws, capsys, "checkpoint") == 2
    assert (run / state["checkpoint"] / "model.safetensors").is_file()  # the real checkpoint is still there


def test_a_state_json_that_is_not_an_object_is_refused_as_such(ws, capsys):
    (ws / RUN / "state.json").write_text("[1, 2]")
    assert refused_in_one_line(RESUME, ws, capsys, "must hold a JSON object") == 2


def test_a_lab_folder_rerun_ignores_manifest_entries_outside_it(tmp_path, capsys):
    """What `induction`, `ladder` and the other labs re-run through: their recorded temp names."""
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "keep.txt").write_text("keep")
    lab = tmp_path / "lab"
    with open_lab_folder(lab, "test lab", ("report.md",)):
        (lab / "report.md").write_text("first")
    append_entries(lab, ["..", "../outside", str(tmp_path / "outside"), "."])
    before = snapshot(tmp_path / "outside")
    with open_lab_folder(lab, "test lab", ("report.md",)):
        pass
    assert snapshot(tmp_path / "outside") == before and (lab / "report.md").read_text() == "first"
    assert "lists '../outside'" in capsys.readouterr().err


def test_overwrite_refuses_while_another_writer_holds_a_subfolder_of_the_run(ws, capsys):
    """`attnlab sae` trains in a subfolder of the run, holding that subfolder's lock: `train
    --overwrite` on the run refuses, naming the subfolder, instead of deleting it under the writer."""
    from filelock import FileLock

    run = ws / RUN
    with open_lab_folder(run / "sae-test", "sae folder", ("sae.json",)):  # recorded in the run's manifest
        (run / "sae-test" / "sae.json").write_text("{}")
    writer = FileLock(str(run / "sae-test" / LOCK), timeout=0)
    writer.acquire()
    try:
        assert refused_in_one_line(OVERWRITE, ws, capsys, "sae-test is in use by another attnlab process") == 2
    finally:
        writer.release()
    assert cli_main(OVERWRITE) == 0, capsys.readouterr().err  # the writer gone: overwrite proceeds
    assert not (run / "sae-test").exists()
