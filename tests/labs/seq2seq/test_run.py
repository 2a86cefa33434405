"""attnlab.labs.seq2seq.run: `attnlab seq2seq` end to end (bad input, a run folder it owns, train,
checkpoint and resume, the regression's printout), and the settings a resumed run takes from its
config.json."""

import json
from pathlib import Path

import pytest
import torch

from train_helpers import one_thread  # noqa: F401 (an autouse fixture)

from attnlab.cli import main
from attnlab.errors import UserError
from attnlab.labs.seq2seq.run import prepare_run, resolve_settings, saved_settings
from attnlab.labs.seq2seq.settings import Seq2SeqRunConfig
from attnlab.labs.seq2seq.tasks import TokenTask
from attnlab.labs.seq2seq.train import save_run_config
from attnlab.runs.checkpoint import checkpoint_dir


@pytest.mark.parametrize("argv,message", [
    (["--task", "add"], "unknown task"),
    (["--task", "copy", "--max-len", "100"], "max_len"),
    (["--task", "copy", "--min-len", "0"], "min_len"),
    (["--task", "sort", "--vocab", "1"], "vocab"),
    (["--task", "copy", "--d-model", "30", "--n-heads", "4"], "divisible"),
    (["--task", "copy", "--resume"], "--resume needs --out"),
    (["--task", "copy", "--d-model", "0"], "d_model must be a positive integer"),
    (["--task", "plus2-regression", "--d-model", "18", "--n-heads", "4"], "divisible"),
    (["--task", "reverse", "--norm", "middle"], "unknown norm"),
])
def test_cli_bad_input(argv, message, capsys):
    assert main(["seq2seq", "--no-progress", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("attnlab: error:") and message in err and "\n" not in err


def test_cli_refuses_a_checkpoint_of_another_kind(tmp_path, capsys):
    (tmp_path / "config.json").write_text(json.dumps({"kind": "gpt", "model": {}}))
    assert main(["seq2seq", "--task", "copy", "--out", str(tmp_path), "--resume", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "'gpt'" in err and "\n" not in err


def test_cli_trains_checkpoints_and_resumes(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["seq2seq", "--task", "reverse", "--vocab", "4", "--max-len", "3", "--d-model", "16", "--n-heads", "2",
            "--n-layers", "1", "--batch-size", "8", "--eval-size", "20", "--no-progress", "--out", str(out)]
    assert main([*argv, "--steps", "6"]) == 0
    assert json.loads((out / "state.json").read_text())["step"] == 6
    assert json.loads((out / "config.json").read_text())["kind"] == "seq2seq"
    assert main([*argv, "--steps", "6"]) == 2  # exists, no --resume
    png = tmp_path / "cross.png"
    assert main([*argv, "--steps", "10", "--resume", "--png", str(png)]) == 0
    try:
        import matplotlib  # noqa: F401
        assert png.read_bytes()[:4] == b"\x89PNG"
    except ImportError:
        pass
    assert json.loads((out / "state.json").read_text())["step"] == 10
    text = capsys.readouterr().out
    assert "resuming" in text and "held-out exact match" in text and "anti-diagonal mass" in text
    other_task = [("copy" if a == "reverse" else a) for a in argv]
    assert main([*other_task, "--steps", "12", "--resume"]) == 2  # trained on another task
    capsys.readouterr()
    assert main(["generate", "--run", str(out)]) == 2  # not a GPT run
    err = capsys.readouterr().err.strip()
    assert err.startswith("attnlab: error:") and "\n" not in err
    torch.save(torch.optim.Adam(torch.nn.Linear(2, 2).parameters()).state_dict(), checkpoint_dir(out) / "optimizer.pt")
    assert main([*argv, "--steps", "12", "--resume"]) == 2  # a bare optimizer state, no RNG states
    err = capsys.readouterr().err.strip()
    assert "optimizer.pt holds no training state" in err and "\n" not in err


def test_cli_regression_prints_both_predictions(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    pe = tmp_path / "pe.png"
    assert main(["seq2seq", "--task", "plus2-regression", "--steps", "10", "--no-progress", "--pe-png", str(pe)]) == 0
    assert pe.read_bytes()[:4] == b"\x89PNG"
    text = capsys.readouterr().out
    assert "Epoch    0/10 | Loss:" in text
    assert "prediction (teacher-forced)" in text and "prediction (autoregressive)" in text
    assert "decoder.blocks.1.cross_attn: head 0" in text
    cross = tmp_path / "cross.png"
    assert main(["seq2seq", "--task", "plus2-regression", "--steps", "2", "--no-progress", "--png", str(cross)]) == 0
    assert cross.read_bytes()[:4] == b"\x89PNG"


def test_cli_out_is_a_run_folder_it_owns(tmp_path, capsys):
    """--out gets attnlab's marker and lock; a folder attnlab did not make is refused, untouched."""
    argv = ["seq2seq", "--task", "copy", "--vocab", "4", "--max-len", "3", "--d-model", "16", "--n-heads", "2",
            "--n-layers", "1", "--batch-size", "8", "--eval-size", "10", "--steps", "3", "--no-progress"]
    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "notes.txt").write_text("my notes")
    assert main([*argv, "--out", str(mine)]) == 2
    err = capsys.readouterr().err.strip()
    assert "not created by attnlab" in err and "\n" not in err
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
    assert (mine / "notes.txt").read_text() == "my notes"
    out = tmp_path / "run"
    assert main([*argv, "--out", str(out)]) == 0
    assert (out / ".attnlab").is_file() and (out / "state.json").is_file()


# --- resuming from config.json -----------------------------------------------------------------------
def _saved_run(folder: Path, **train) -> Path:
    """A run folder's config.json and state.json as a token-task run writes them (no training)."""
    s = Seq2SeqRunConfig(task="reverse", vocab=4, max_len=3, d_model=16, n_heads=2, n_layers=1, batch_size=8)
    task = TokenTask("reverse", vocab=4, max_len=3)
    folder.mkdir()
    save_run_config(folder, s.model_config(task.src_vocab_size, task.tgt_vocab_size),
                    {"name": "reverse", "vocab": 4, "min_len": 1, "max_len": 3},
                    {"steps": 6, "lr": s.lr, "warmup": s.warmup, "batch_size": 8, "seed": 0, **train})
    (folder / "state.json").write_text(json.dumps({"step": 6}))
    return folder


def test_resume_takes_the_saved_settings_and_changes_the_others(tmp_path):
    out = str(_saved_run(tmp_path / "r"))
    s = resolve_settings({"out": out, "resume": True, "steps": 20, "beam": 3, "d_model": 16})
    assert (s.task, s.vocab, s.max_len, s.d_model, s.n_heads, s.n_layers, s.d_ff, s.batch_size) == \
        ("reverse", 4, 3, 16, 2, 1, 32, 8)
    assert (s.steps, s.beam) == (20, 3)
    assert resolve_settings({"out": out, "resume": True}).steps == 6  # up to the saved run's steps


def test_resume_refuses_contradicting_flags_and_a_run_without_resume(tmp_path):
    out = str(_saved_run(tmp_path / "r"))
    with pytest.raises(UserError, match=r"--n-layers \(1 -> 2\), --seed \(0 -> 5\)") as info:
        resolve_settings({"out": out, "resume": True, "n_layers": 2, "seed": 5, "steps": 9})
    assert str(info.value).endswith("only --steps, --eval-size, --beam, --examples, --save-every, --png, "
                                    "--pe-png, --threads may change")
    with pytest.raises(UserError, match="already holds a run; pass --resume"):
        resolve_settings({"out": out, "task": "reverse"})
    with pytest.raises(UserError, match="unknown seq2seq setting key"):
        resolve_settings({"task": "copy", "epochs": 3})


def test_resume_of_a_config_without_its_settings_is_one_user_error(tmp_path):
    out = _saved_run(tmp_path / "r")
    data = json.loads((out / "config.json").read_text())
    del data["train"]["warmup"]
    (out / "config.json").write_text(json.dumps(data))
    with pytest.raises(UserError, match="lacks the setting 'warmup'"):
        resolve_settings({"out": str(out), "resume": True})


def test_a_run_too_large_for_the_memory_is_refused_before_anything_is_allocated(monkeypatch):
    import attnlab.model.memory as memory

    monkeypatch.setattr(memory, "available_memory", lambda device="cpu": 1000)
    settings = Seq2SeqRunConfig(task="copy", vocab=4, max_len=3, d_model=16, n_heads=2, n_layers=1)
    with pytest.raises(UserError, match=r"this seq2seq run \(1\+1 layers, d_model 16, d_ff 32, batch 128, eval 1000, "
                                        r"beam 1\) needs .* of memory, but 1.0 kB is available on cpu; make them "
                                        r"smaller"):
        prepare_run(settings)


def test_a_resumed_run_keeps_its_saved_model_and_task(tmp_path):
    out = _saved_run(tmp_path / "r")
    prepared = prepare_run(resolve_settings({"out": str(out), "resume": True}))
    assert prepared.resume and prepared.task == TokenTask("reverse", vocab=4, max_len=3)
    assert prepared.model.d_model == 16 and prepared.model.n_encoder_layers == 1
    other = Seq2SeqRunConfig(task="copy", vocab=4, max_len=3, d_model=16, n_heads=2, n_layers=1, batch_size=8,
                             out=str(out), resume=True)
    with pytest.raises(UserError, match="was trained on .*'reverse'.*, not .*'copy'"):
        prepare_run(other)
    fresh = prepare_run(Seq2SeqRunConfig(task="copy", vocab=4, max_len=3, d_model=16, n_heads=2, n_layers=1))
    assert not fresh.resume and fresh.model.src_vocab_size == 7  # 4 values and PAD, BOS, EOS


def test_the_saved_settings_of_a_regression_are_its_task_alone(tmp_path):
    assert saved_settings({"model": {}, "task": {"name": "plus2-regression"}, "train": {}}, "r") == {
        "task": "plus2-regression"}
    with pytest.raises(UserError, match="is not a seq2seq run config"):
        saved_settings({"model": {}, "task": "copy", "train": {}}, str(tmp_path))
