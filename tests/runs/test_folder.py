"""runs/folder.py, called directly: run names, the marker that makes a folder attnlab's, the names
it owns there (fixed, recorded, never by pattern), one writer per folder, a start that fails
before its first checkpoint taking back what it wrote, and a lab's folder and subfolders (the
same rules through the commands, against a user's files: test_trust.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from attnlab.errors import UserError
from attnlab.io import MANIFEST, read_manifest, record_name
from attnlab.runs.folder import (LOCK, MARKER, RUN_FILES, check_deletable, check_run_name, claim_subfolders,
                                 committed_checkpoint_name, foreign_entries, is_attnlab_folder, open_lab_folder,
                                 open_run_folder, owned_names, read_marker, remove_owned)


def commit(run: Path, step: int = 3) -> str:
    """What a checkpoint save leaves: a checkpoint folder (recorded first) and state.json naming it."""
    name = f"checkpoint-{step:06d}-ab12"
    record_name(run, name, temp=True)
    (run / name).mkdir()
    (run / name / "model.safetensors").write_bytes(b"weights")
    (run / "state.json").write_text(json.dumps({"step": step, "checkpoint": name}))
    return name


@pytest.mark.parametrize("name", ["", ".", "..", ".hidden", "a/b", "a\\b", "../x", "a\0b"])
def test_a_run_name_is_one_plain_folder_name(name):
    with pytest.raises(UserError, match="must be a plain folder name"):
        check_run_name(name)


def test_a_new_run_folder_is_marked_and_locked_and_a_second_writer_is_refused(tmp_path):
    run = tmp_path / "runs" / "mine"
    assert check_run_name("mine") == "mine"
    with open_run_folder(run, "new") as opened:
        assert opened == run and is_attnlab_folder(run) and (run / LOCK).is_file()
        assert read_marker(run) == {"written_by": "attnlab", "what": "run folder", "files": list(RUN_FILES)}
        assert read_manifest(run) == {}  # a new folder keeps a manifest from its start
        with pytest.raises(UserError, match="is in use by another attnlab process"):
            with open_run_folder(run, "resume"):
                pass
        commit(run)
    with pytest.raises(UserError, match="already exists: pass --resume .* --overwrite"):
        with open_run_folder(run, "new"):
            pass
    with open_run_folder(run, "resume"):  # the lock went with the first context
        pass


def test_a_start_that_fails_before_its_first_checkpoint_takes_back_what_it_wrote(tmp_path):
    run = tmp_path / "mine"
    with pytest.raises(RuntimeError):
        with open_run_folder(run, "new"):
            (run / "config.json").write_text("{}")
            raise RuntimeError("failed before the first checkpoint")
    assert not run.exists()  # attnlab made it: it goes too
    (tmp_path / "empty").mkdir()  # the user's empty folder: it stays, empty
    with pytest.raises(RuntimeError):
        with open_run_folder(tmp_path / "empty", "new"):
            (tmp_path / "empty" / "metrics.jsonl").write_text("")
            raise RuntimeError("failed")
    assert list((tmp_path / "empty").iterdir()) == []


def test_resume_needs_a_checkpoint_and_a_folder_that_is_attnlabs(tmp_path):
    with pytest.raises(UserError, match="nothing to resume"):
        with open_run_folder(tmp_path / "missing", "resume"):
            pass
    assert not (tmp_path / "missing").exists()
    users = tmp_path / "users"
    users.mkdir()
    (users / "thesis.tex").write_text("mine")
    for mode in ("new", "overwrite", "resume"):
        with pytest.raises(UserError, match="was not created by attnlab"):
            with open_run_folder(users, mode):
                pass
    assert [p.name for p in users.iterdir()] == ["thesis.tex"]


def test_resume_removes_a_killed_saves_leftover_and_keeps_the_committed_checkpoint(tmp_path):
    run = tmp_path / "mine"
    with open_run_folder(run, "new"):
        kept = commit(run, 3)
    leftover = "checkpoint-000006-cd34"  # recorded, made, never committed: a kill mid-save
    record_name(run, leftover, temp=True)
    (run / leftover).mkdir()
    (run / "checkpoint-000009-mybackup").mkdir()  # the user's look-alike: on no list
    with open_run_folder(run, "resume"):
        pass
    assert sorted(p.name for p in run.iterdir() if p.is_dir()) == [kept, "checkpoint-000009-mybackup"]
    assert read_manifest(run) == {kept: True}  # the removed name is dropped from the manifest


def test_owned_names_are_listed_never_guessed_and_only_they_are_removed(tmp_path):
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / MARKER).write_text(json.dumps({"written_by": "attnlab", "what": "export", "files": ["a.bin", "../x"]}))
    (folder / MANIFEST).write_text("")
    record_name(folder, "made-later")
    for name in ("a.bin", "made-later", "checkpoint-000001", "notes.txt"):
        (folder / name).write_text(name)
    assert owned_names(folder) == {MARKER, LOCK, MANIFEST, "a.bin", "made-later"}  # "../x" is not a plain name
    assert foreign_entries(folder) == ["checkpoint-000001", "notes.txt"]
    remove_owned(folder, ["a.bin", "notes.txt", "checkpoint-000001", "made-later", "../export"])
    assert sorted(p.name for p in folder.iterdir()) == sorted([MANIFEST, MARKER, "checkpoint-000001", "notes.txt"])


def test_an_old_folder_without_a_manifest_owns_its_committed_checkpoint(tmp_path):
    run = tmp_path / "old"
    run.mkdir()
    (run / MARKER).write_text(json.dumps({"written_by": "attnlab"}))  # no "files": a run folder's
    (run / "state.json").write_text(json.dumps({"step": 5, "checkpoint": "checkpoint-000005"}))
    assert committed_checkpoint_name(run) == "checkpoint-000005"
    assert {"checkpoint-000005", "model.safetensors", "optimizer.pt", "config.json"} <= owned_names(run)
    assert "checkpoint-000004" not in owned_names(run)


@pytest.mark.parametrize("state", [{"checkpoint": "../elsewhere"}, {"checkpoint": "checkpoint-abc"},
                                   {"checkpoint": "/etc"}, [1, 2]])
def test_a_state_json_that_names_no_checkpoint_folder_is_refused(tmp_path, state):
    (tmp_path / "state.json").write_text(json.dumps(state))
    with pytest.raises(UserError, match="state.json"):
        committed_checkpoint_name(tmp_path)


def test_nothing_is_deleted_in_the_working_folder_or_a_folder_that_is_not_attnlabs(tmp_path, monkeypatch):
    ours = tmp_path / "ours"
    ours.mkdir()
    (ours / MARKER).write_text("{}")
    check_deletable(ours)  # nothing raised
    monkeypatch.chdir(ours)
    with pytest.raises(UserError, match="it is the working directory or a parent of it"):
        check_deletable(ours)
    with pytest.raises(UserError, match="it is the working directory or a parent of it"):
        check_deletable(tmp_path)
    (tmp_path / "users").mkdir()
    with pytest.raises(UserError, match="refusing to delete anything in it"):
        check_deletable(tmp_path / "users")


def test_a_lab_folder_is_written_again_by_its_own_lab_and_refused_to_another(tmp_path):
    out = tmp_path / "induction"
    with open_lab_folder(out, "induction lab", ("report.md",)):
        (out / "report.md").write_text("first")
    with open_lab_folder(out, "induction lab", ("report.md",)):
        (out / "report.md").write_text("second")
    with pytest.raises(UserError, match="is an attnlab induction lab; refusing to write the ladder into it"):
        with open_lab_folder(out, "ladder", ("ladder.md",)):
            pass
    assert (out / "report.md").read_text() == "second"


def test_subfolders_are_recorded_before_they_are_made_and_a_foreign_one_stops_them_all(tmp_path):
    out = tmp_path / "ladder"
    with open_lab_folder(out, "ladder", ("ladder.md",)):
        made = claim_subfolders(out, ["rung-1", "rung-2"])
        assert made == [out / "rung-1", out / "rung-2"] and all(p.is_dir() for p in made)
        assert {"rung-1", "rung-2"} <= set(read_manifest(out))
        assert claim_subfolders(out, ["rung-1"]) == [out / "rung-1"]  # its own: taken again
        (out / "rung-4").mkdir()  # not made by attnlab
        with pytest.raises(UserError, match="rung-4 was not made by attnlab"):
            claim_subfolders(out, ["rung-3", "rung-4"])
        assert not (out / "rung-3").exists()
