"""attnlab.interop.folder: a whole folder written atomically (all of it or nothing), a destination
replaced only when it is attnlab's folder of the same kind, and never into its own input."""

import json

import pytest

from attnlab.interop.folder import atomic_folder, check_apart, check_destination
from attnlab.runs.folder import MARKER


def test_a_destination_may_not_be_its_input_inside_it_or_hold_it(tmp_path):
    src = tmp_path / "run"
    src.mkdir()
    for out, where in ((src, "is"), (src / "hf", "is inside"), (tmp_path, "holds"), (src / ".." / "run", "is")):
        with pytest.raises(ValueError, match=f"--out {out} {where} the input"):
            check_apart(src, out)
    check_apart(src, tmp_path / "run-hf")  # a sibling whose name starts the same is apart


def test_a_built_folder_appears_whole_with_the_marker_listing_its_files(tmp_path):
    out = tmp_path / "deep" / "exported"
    with atomic_folder(out) as tmp:
        assert tmp.parent == out.parent and not out.exists()
        (tmp / "config.json").write_text("{}")
        (tmp / "model.safetensors").write_bytes(b"x")
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "config.json", "model.safetensors"]
    marker = json.loads((out / MARKER).read_text())
    assert marker == {"written_by": "attnlab", "what": "model folder", "files": ["config.json", "model.safetensors"]}
    assert sorted(p.name for p in out.parent.iterdir()) == ["exported"]  # no temp folder left


def test_an_error_while_building_leaves_nothing_and_the_old_folder_as_it_was(tmp_path):
    out = tmp_path / "exported"
    with pytest.raises(RuntimeError, match="half way"):
        with atomic_folder(out) as tmp:
            (tmp / "config.json").write_text("{}")
            raise RuntimeError("half way")
    assert list(tmp_path.iterdir()) == []
    with atomic_folder(out) as tmp:
        (tmp / "a.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_folder(out, overwrite=True) as tmp:
            (tmp / "b.txt").write_text("new")
            raise RuntimeError
    assert (out / "a.txt").read_text() == "old" and not (out / "b.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exported"]


def test_overwrite_replaces_only_attnlabs_folder_of_the_same_kind_and_nothing_foreign(tmp_path):
    out = tmp_path / "exported"
    with atomic_folder(out) as tmp:
        (tmp / "a.txt").write_text("old")
    with pytest.raises(ValueError, match="exists and is not empty \\(pass --overwrite"):
        check_destination(out, overwrite=False)
    with pytest.raises(ValueError, match="is an attnlab model folder; refusing to replace it with the run folder"):
        check_destination(out, overwrite=True, what="run folder")
    with atomic_folder(out, overwrite=True) as tmp:
        (tmp / "b.txt").write_text("new")
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "b.txt"]
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"holds files attnlab did not write \(notes.txt\)"):
        check_destination(out, overwrite=True)
    stranger = tmp_path / "photos"
    stranger.mkdir()
    (stranger / "cat.jpg").write_bytes(b"\xff")
    with pytest.raises(ValueError, match="was not created by attnlab"):
        check_destination(stranger, overwrite=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="exists and is not a folder"):
        check_destination(tmp_path / "file", overwrite=True)
    assert check_destination(tmp_path / "new", overwrite=False) == tmp_path / "new"
