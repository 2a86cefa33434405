"""attnlab deletes only what it can prove it wrote, reads only inside the folder it was given, and
re-reads a run's corpus as the run stored it (issue 20's data-loss and read-outside cases).

Each test is named after the case a hostile tester found. A refusal is exit code 2, exactly one
line `attnlab: error: ...`, no traceback, and every file of the workspace byte-identical; where
the command must succeed, every file of the user's is byte-identical afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from train_helpers import TEXT, TINY, cli_main, copy_workspace, one_thread, snapshot  # noqa: E402,F401 (one_thread: an autouse fixture)

from attnlab.io import MANIFEST, new_temp, read_manifest  # noqa: E402
from attnlab.runs.checkpoint import committed_checkpoint_name  # noqa: E402
from attnlab.runs.folder import MARKER  # noqa: E402

RUN = "runs/r"
TRAIN = ["train", "--corpus", "corpus.txt", "--out-dir", "runs", "--name", "r", *TINY, "--sample-tokens", "0"]
RESUME = [*TRAIN, "--resume", "--max-iters", "9"]


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    ws = tmp_path_factory.mktemp("trust")
    (ws / "corpus.txt").write_text(TEXT, encoding="utf-8")
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


def refused(capsys, root: Path, argv: list[str], words: str) -> str:
    """Run `attnlab ARGV`: exit 2, one error line holding `words`, root exactly as it was."""
    before = snapshot(root)
    code = cli_main(argv)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("attnlab: error:") and "Traceback" not in err, err
    assert words in lines[0], err
    after = snapshot(root)
    assert set(after) == set(before), (sorted(set(after) ^ set(before)))
    assert [p for p in before if before[p] != after[p]] == [], "changed"
    return lines[0]


def user_files(ws: Path) -> dict[str, bytes | None]:
    """A user's own files in the run folder, named like attnlab's checkpoints and temp files."""
    (ws / RUN / "checkpoint-000020-mybackup").mkdir()
    (ws / RUN / "checkpoint-000020-mybackup" / "model.safetensors").write_bytes(b"my weights")
    (ws / RUN / ".notes.old").write_text("my old notes")
    (ws / RUN / ".draft.tmp").write_text("my draft")
    return {p: b for p, b in snapshot(ws).items() if "mybackup" in p or p.endswith((".notes.old", ".draft.tmp"))}


# --- what --resume and --overwrite delete -------------------------------------------------------

def test_resume_keeps_a_users_checkpoint_000020_mybackup_and_notes_old(ws, capsys):
    mine = user_files(ws)
    assert cli_main(RESUME) == 0, capsys.readouterr().err
    after = snapshot(ws)
    assert {p: after.get(p) for p in mine} == mine  # every one of them, byte for byte
    checkpoints = sorted(p.name for p in (ws / RUN).iterdir() if p.name.startswith("checkpoint-"))
    assert checkpoints == sorted([committed_checkpoint_name(ws / RUN), "checkpoint-000020-mybackup"])
    assert json.loads((ws / RUN / "state.json").read_text())["step"] == 9


def test_overwrite_names_a_users_notes_old_and_draft_tmp_instead_of_deleting_them(ws, capsys):
    user_files(ws)
    line = refused(capsys, ws, [*TRAIN, "--overwrite"], "did not write")
    assert ".notes.old" in line and ".draft.tmp" in line and "checkpoint-000020-mybackup" in line


def test_resume_with_state_json_naming_a_missing_checkpoint_refuses_before_touching_anything(ws, capsys):
    state = json.loads((ws / RUN / "state.json").read_text())
    real = state["checkpoint"]
    (ws / RUN / "state.json").write_text(json.dumps({**state, "checkpoint": "checkpoint-000099-gone"}))
    line = refused(capsys, ws, RESUME, "checkpoint-000099-gone")
    assert "missing" in line or "not in" in line
    assert (ws / RUN / real / "model.safetensors").is_file() and (ws / RUN / real / "optimizer.pt").is_file()


def test_resume_cleans_a_killed_saves_recorded_leftovers_but_not_look_alikes(ws, capsys):
    run = ws / RUN
    half_save = new_temp(run, "checkpoint-000004-", is_dir=True)  # as a save killed half-way leaves it
    (half_save / "model.safetensors").write_bytes(b"half")
    temp = new_temp(run, ".state.json.", ".tmp")  # as an atomic write killed before its rename
    (run / ".state.json.deadbeef.tmp").write_text("mine")  # the same pattern, not attnlab's
    (run / "checkpoint-000004-deadbeef").mkdir()
    assert cli_main(RESUME) == 0, capsys.readouterr().err
    assert not half_save.exists() and not temp.exists()
    assert (run / ".state.json.deadbeef.tmp").read_text() == "mine" and (run / "checkpoint-000004-deadbeef").is_dir()
    assert set(read_manifest(run)) == {committed_checkpoint_name(run)}  # what is left recorded: the checkpoint


def test_an_old_run_folder_without_a_manifest_keeps_working_and_its_look_alikes_are_kept(ws, capsys):
    run = ws / RUN
    (run / MARKER).write_text(json.dumps({"written_by": "attnlab", "what": "run folder"}))  # as before manifests
    (run / MANIFEST).unlink()
    (run / "checkpoint-000002-a1b2c3d4").mkdir()  # a killed save's leftover, or a user's: nothing proves which
    committed = committed_checkpoint_name(run)
    assert cli_main(RESUME) == 0, capsys.readouterr().err
    assert not (run / committed).exists()  # the checkpoint state.json named was attnlab's: replaced by a newer one
    assert (run / "checkpoint-000002-a1b2c3d4").is_dir()
    line = refused(capsys, ws, [*TRAIN, "--overwrite"], "checkpoint-000002-a1b2c3d4")
    assert "did not write" in line


def test_overwrite_of_a_run_removes_only_what_attnlab_wrote(ws, capsys):
    assert cli_main([*TRAIN, "--overwrite"]) == 0, capsys.readouterr().err
    names = sorted(p.name for p in (ws / RUN).iterdir())
    assert names == sorted([".attnlab", ".attnlab-files", ".lock", "config.json", "tokenizer", "state.json",
                            "metrics.jsonl", "loss.png", committed_checkpoint_name(ws / RUN)]
                           + (["tensorboard"] if (ws / RUN / "tensorboard").exists() else []))


# --- every output folder follows the run-folder rules ---------------------------------------------

INDUCTION = ["induction", "--steps", "2", "--eval-interval", "2", "--layers", "1", "--json"]


def test_induction_out_dir_with_a_users_report_md_and_summary_json_is_refused(ws, capsys):
    mine = ws / "mine"
    mine.mkdir()
    (mine / "report.md").write_text("my report")
    (mine / "summary.json").write_text('{"my": 1}')
    refused(capsys, ws, [*INDUCTION, "--out-dir", "mine"], "not created by attnlab")


def test_induction_out_dir_is_attnlabs_own_folder_rerun_in_place_and_never_a_run_folder(ws, capsys):
    assert cli_main([*INDUCTION, "--out-dir", "lab"]) == 0, capsys.readouterr().err
    assert json.loads((ws / "lab" / MARKER).read_text())["what"] == "induction lab folder"
    (ws / "lab" / "notes.txt").write_text("mine")
    assert cli_main([*INDUCTION, "--out-dir", "lab"]) == 0, capsys.readouterr().err  # its own files, again
    assert (ws / "lab" / "notes.txt").read_text() == "mine"
    capsys.readouterr()
    (ws / "lab" / "layers-2").mkdir()  # a folder of the user's where the lab would write
    refused(capsys, ws, [*INDUCTION, "--layers", "1,2", "--out-dir", "lab"], "layers-2")
    refused(capsys, ws, [*INDUCTION, "--out-dir", RUN], "refusing to write the induction lab folder")


def test_ladder_out_dir_with_a_users_ladder_md_is_refused(ws, capsys):
    (ws / "mine").mkdir()
    (ws / "mine" / "ladder.md").write_text("my ladder notes")
    refused(capsys, ws, ["ladder", "--corpus", "corpus.txt", "--steps", "2", "--eval-iters", "2", "--out-dir",
                         "mine", "--json", "--no-progress"], "not created by attnlab")


# --- a command never writes into its own input -----------------------------------------------------

@pytest.mark.parametrize("out", [RUN, f"{RUN}/", f"{RUN}/exported", "runs", "."])
def test_export_hf_into_its_own_run_folder_is_refused(ws, capsys, out):
    pytest.importorskip("transformers")
    refused(capsys, ws, ["export-hf", "--run", RUN, "--out", out, "--overwrite"], "own input")


def test_export_hf_overwrite_never_replaces_a_training_run(ws, capsys):
    pytest.importorskip("transformers")
    shutil.copytree(ws / RUN, ws / "runs" / "other")
    refused(capsys, ws, ["export-hf", "--run", RUN, "--out", "runs/other", "--overwrite"], "refusing to replace it with the Hugging Face")


def test_import_hf_into_its_own_folder_is_refused(ws, capsys):
    pytest.importorskip("transformers")
    assert cli_main(["export-hf", "--run", RUN, "--out", "hf"]) == 0, capsys.readouterr().err
    capsys.readouterr()
    refused(capsys, ws, ["import-hf", "hf", "--out", "hf", "--overwrite"], "own input")
    refused(capsys, ws, ["import-hf", "hf", "--out", "hf/run"], "own input")


# --- files named inside a folder resolve inside it --------------------------------------------------

@pytest.mark.parametrize("shard", ["../outside.safetensors", "ABSOLUTE", "sub/../../outside.safetensors", 7])
def test_import_hf_refuses_a_shard_index_whose_weight_map_leaves_the_folder(ws, capsys, shard):
    pytest.importorskip("transformers")
    assert cli_main(["export-hf", "--run", RUN, "--out", "hf"]) == 0, capsys.readouterr().err
    capsys.readouterr()
    os.replace(ws / "hf" / "model.safetensors", ws / "outside.safetensors")  # a valid file, outside the folder
    shard = str(ws / "outside.safetensors") if shard == "ABSOLUTE" else shard
    index = {"metadata": {}, "weight_map": {"transformer.wte.weight": shard}}
    (ws / "hf" / "model.safetensors.index.json").write_text(json.dumps(index))
    line = refused(capsys, ws, ["import-hf", "hf", "--out", "imported"], "inside")
    assert "model.safetensors.index.json" in line
    assert not (ws / "imported").exists()


def test_import_hf_reads_a_shard_index_whose_shards_are_inside(ws, capsys):
    pytest.importorskip("transformers")
    assert cli_main(["export-hf", "--run", RUN, "--out", "hf"]) == 0, capsys.readouterr().err
    (ws / "hf" / "shards").mkdir()
    os.replace(ws / "hf" / "model.safetensors", ws / "hf" / "shards" / "part-1.safetensors")
    index = {"weight_map": {"transformer.wte.weight": "shards/part-1.safetensors"}}
    (ws / "hf" / "model.safetensors.index.json").write_text(json.dumps(index))
    assert cli_main(["import-hf", "hf", "--out", "imported"]) == 0, capsys.readouterr().err


# --- paths a run stores ------------------------------------------------------------------------------

ABLATE = ["ablate", "--split", "val", "--batches", "2", "--json"]


def baseline(capsys, run: str, *flags: str) -> float:
    assert cli_main([*ABLATE, "--run", run, *flags]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)["baseline_loss"]


def test_ablate_split_val_reads_the_runs_own_corpus_from_another_folder(ws, capsys, monkeypatch):
    config = json.loads((ws / RUN / "config.json").read_text())
    assert config["train"]["corpus"] == "corpus.txt"  # as given, so --resume --corpus corpus.txt still matches
    assert Path(config["corpus_path"]).is_absolute()  # resolved when the run was made
    assert Path(config["corpus_path"]).read_text(encoding="utf-8") == TEXT
    here = baseline(capsys, RUN)
    elsewhere = ws / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "corpus.txt").write_text(TEXT[::-1], encoding="utf-8")  # another file of the same name
    monkeypatch.chdir(elsewhere)
    assert baseline(capsys, f"../{RUN}") == here


def test_ablate_split_val_refuses_an_old_runs_relative_corpus_and_takes_corpus(ws, capsys, monkeypatch):
    here = baseline(capsys, RUN)
    config = json.loads((ws / RUN / "config.json").read_text())
    del config["corpus_path"]  # as runs made before the path was stored
    (ws / RUN / "config.json").write_text(json.dumps(config))
    elsewhere = ws / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "corpus.txt").write_text(TEXT[::-1], encoding="utf-8")
    monkeypatch.chdir(elsewhere)
    refused(capsys, ws, [*ABLATE, "--run", f"../{RUN}"], "relative path")
    assert baseline(capsys, f"../{RUN}", "--corpus", "../corpus.txt") == here
