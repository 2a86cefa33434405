"""attnlab.io: atomic writes (the old file or the new one, never a half), the manifest of names
attnlab created, strict JSON, reads with a size limit, and tensors saved without pickle.
(Real full disks and size limits, across commands: tests/runs/test_failing_writes.py.)"""

import errno
import io as std_io
import json
import os
import stat

import pytest
import torch

from attnlab.io import (MANIFEST, atomic_write, current_umask, finite, load_json, load_tensors, load_torch,
                        new_temp, read_bytes_limited, read_manifest, read_stream_limited, record_name, save_json,
                        save_tensors, save_torch, strict_json, write_failure)


def test_an_atomic_write_replaces_the_file_with_the_umasks_permissions_and_leaves_no_temp(tmp_path):
    path = tmp_path / "sub" / "a.txt"
    atomic_write(path, lambda tmp: open(tmp, "w").write("one"))
    atomic_write(path, lambda tmp: open(tmp, "w").write("two"))
    assert path.read_text() == "two" and os.listdir(path.parent) == ["a.txt"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~current_umask()


def test_a_failed_write_keeps_the_last_version_and_names_the_cause(tmp_path):
    path = tmp_path / "state.json"
    save_json(path, {"step": 1})

    def full_disk(tmp):
        open(tmp, "w").write('{"st')
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(ValueError, match=f"^could not write {path}: no space left on device$"):
        atomic_write(path, full_disk)

    def bug(tmp):
        raise KeyError("not the disk's fault")

    with pytest.raises(KeyError):
        atomic_write(path, bug)
    assert load_json(path) == {"step": 1} and os.listdir(tmp_path) == ["state.json"]


def test_write_failures_read_the_cause_off_the_errno_or_the_message():
    assert str(write_failure("m.safetensors", RuntimeError("I/O error: (os error 28)"))) == \
        "could not write m.safetensors: no space left on device"
    assert str(write_failure("x", OSError(errno.EROFS, "Read-only"))) == "could not write x: read-only file system"
    assert str(write_failure("x", RuntimeError("unexpected pos 64"))) == "could not write x: unexpected pos 64"


def test_the_manifest_records_names_only_where_it_is_kept_and_survives_a_cut_line(tmp_path):
    record_name(tmp_path, "a")  # no manifest: the folder is not one attnlab keeps a list for
    assert read_manifest(tmp_path) is None and os.listdir(tmp_path) == []
    (tmp_path / MANIFEST).write_text('{"name": "lab-1"}\n{"name": "cut sh')  # a kill mid-line
    record_name(tmp_path, "lab-2")
    tmp = new_temp(tmp_path, ".ckpt.", ".tmp", is_dir=True)
    assert tmp.is_dir() and tmp.name.startswith(".ckpt.") and len(tmp.name) == len(".ckpt.") + 8 + len(".tmp")
    assert read_manifest(tmp_path) == {"lab-1": False, "lab-2": False, tmp.name: True}
    record_name(tmp_path, "lab-1", temp=True)  # once a temp name, always a temp name
    assert read_manifest(tmp_path)["lab-1"] is True


def test_json_is_strict_nan_and_infinities_become_null(tmp_path):
    data = {"loss": float("nan"), "rows": [(1.5, float("inf")), {"x": -float("inf")}], "n": 3, "s": "대"}
    assert finite(data) == {"loss": None, "rows": [[1.5, None], {"x": None}], "n": 3, "s": "대"}
    text, bad = strict_json(data)
    assert bad == 3 and json.loads(text) == finite(data) and "대" in text
    (tmp_path / "bad.json").write_text("{'single': 'quotes'}")
    with pytest.raises(ValueError, match="bad.json is not valid JSON"):
        load_json(tmp_path / "bad.json")
    with pytest.raises(FileNotFoundError, match="nope.json not found"):
        load_json(tmp_path / "nope.json")


def test_reads_stop_at_their_limit_and_name_it(tmp_path):
    assert read_stream_limited(std_io.BytesIO(b"x" * 1024), 1024, "stdin") == b"x" * 1024
    with pytest.raises(ValueError, match="^stdin is longer than 1 KiB, the most attnlab reads from it$"):
        read_stream_limited(std_io.BytesIO(b"x" * 1025), 1024, "stdin")
    (tmp_path / "f").write_bytes(b"y" * 1001)
    with pytest.raises(ValueError, match=r"the corpus .*f is longer than 1000 bytes, .*; use a smaller file"):
        read_bytes_limited(tmp_path / "f", 1000, "the corpus")
    with pytest.raises(IsADirectoryError, match="is a folder, not a file"):
        read_bytes_limited(tmp_path, 1000, "the corpus")


def test_tensors_round_trip_without_pickle_and_a_damaged_file_is_one_line(tmp_path):
    tensors = {"w": torch.randn(3, 4), "b": torch.arange(5)}
    path = save_tensors(tmp_path / "m.safetensors", tensors, metadata={"format": "pt"})
    back = load_tensors(path)
    assert set(back) == {"w", "b"} and all(torch.equal(back[k], tensors[k]) for k in tensors)
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(ValueError, match="m.safetensors is not a valid safetensors file"):
        load_tensors(path)


class Payload:
    """A pickled object: torch.load(weights_only=True) must refuse to build it."""


def test_torch_files_load_tensors_and_numbers_but_never_a_pickled_object(tmp_path):
    state = {"step": 3, "exp_avg": torch.ones(2)}
    assert load_torch(save_torch(tmp_path / "opt.pt", state))["step"] == 3
    torch.save({"x": Payload()}, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match="holds pickled Python objects, not only tensors and numbers"):
        load_torch(tmp_path / "evil.pt")
