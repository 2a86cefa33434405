"""runs/checkpoint.py on a tiny GPT, called directly: config.json and the weights round-trip into
load_model, a save commits a new checkpoint folder and drops the old one, an exact resume's RNG
and optimizer state come back, and every mismatch is one UserError (a killed or failing save
through the commands: tests/test_kill.py, test_failing_writes.py)."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest
import torch

import attnlab.runs.checkpoint as ckpt
from attnlab.config import GPTConfig, TrainConfig
from attnlab.errors import UserError
from attnlab.io import load_tensors, save_json
from attnlab.model.gpt import GPT
from attnlab.runs.folder import open_run_folder
from attnlab.tokenizers.char import CharTokenizer

TOK = CharTokenizer.train("abcde")


def tiny(tie_weights: bool = True, seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=TOK.vocab_size, max_seq_len=4, d_model=8, n_heads=2, n_layers=1,
                         tie_weights=tie_weights))


def saved_run(run: Path, model: GPT, steps: tuple[int, ...] = (2,)) -> Path:
    """A run folder as training leaves it: config.json, tokenizer/, a checkpoint per step."""
    optimizer = torch.optim.AdamW(model.parameters())
    with open_run_folder(run, "new"):
        ckpt.save_run_config(run, model.config, TrainConfig(corpus="-"), TOK)
        for step in steps:
            ckpt.save_checkpoint(run, model, ckpt.training_state(optimizer, torch.device("cpu")), {"step": step})
    return run


def test_a_tied_lm_head_is_saved_once_and_an_untied_one_is_kept():
    assert "lm_head.weight" not in ckpt.model_state_dict(tiny(tie_weights=True))
    assert "lm_head.weight" in ckpt.model_state_dict(tiny(tie_weights=False))


def test_a_saved_run_loads_as_the_same_model_in_eval_mode(tmp_path):
    model = tiny()
    run = saved_run(tmp_path / "run", model)
    loaded, tokenizer = ckpt.load_model(run)
    assert not loaded.training and tokenizer.encode("abc") == TOK.encode("abc")
    assert loaded.lm_head.weight is loaded.token_embedding_table.weight  # re-tied on load
    for name, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value), name
    data = json.loads((run / "config.json").read_text())
    assert data["kind"] == "gpt" and data["tokenizer"] == "char" and "corpus_path" not in data  # stdin: no path
    assert ckpt.read_run_config(run) == (model.config, TrainConfig(corpus="-"), "char")


def test_a_save_commits_a_new_folder_stamped_with_its_step_and_drops_the_old_one(tmp_path):
    run = saved_run(tmp_path / "run", tiny(), steps=(2, 4))
    state = json.loads((run / "state.json").read_text())
    folder = ckpt.checkpoint_dir(run)
    assert state["step"] == 4 and folder == run / state["checkpoint"] and folder.name.startswith("checkpoint-000004-")
    assert sorted(p.name for p in run.glob("checkpoint-*")) == [folder.name]  # step 2's is gone
    saved_state, saved = ckpt.load_checkpoint(run)
    assert saved_state == state and saved["step"] == 4 and ckpt._weights_step(folder) == 4


def test_training_state_brings_back_the_optimizer_and_every_generator(tmp_path):
    model = tiny()
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    model(torch.tensor([[0, 1, 2]]), torch.tensor([[1, 2, 3]]))[1].backward()
    optimizer.step()
    batches = torch.Generator().manual_seed(7)
    saved = ckpt.training_state(optimizer, torch.device("cpu"), batch_generator=batches)
    expected = (torch.rand(3), torch.rand(2, generator=batches))  # what comes next after the save
    fresh = torch.optim.AdamW(model.parameters(), lr=0.1)
    other = torch.Generator().manual_seed(99)
    ckpt.restore_training_state(saved, fresh, torch.device("cpu"), batch_generator=other)
    assert torch.equal(torch.rand(3), expected[0]) and torch.equal(torch.rand(2, generator=other), expected[1])
    for p in model.parameters():
        assert torch.equal(fresh.state[p]["exp_avg"], optimizer.state[p]["exp_avg"])


def test_weights_of_another_shape_or_other_names_are_refused(tmp_path):
    run = saved_run(tmp_path / "run", tiny())
    weights = ckpt.checkpoint_dir(run) / "model.safetensors"
    with pytest.raises(UserError, match="does not match the model config .*missing: \\['lm_head.weight'\\]"):
        ckpt.load_weights(tiny(tie_weights=False), weights)
    wider = GPT(GPTConfig(vocab_size=TOK.vocab_size, max_seq_len=4, d_model=16, n_heads=2, n_layers=1))
    with pytest.raises(UserError, match=r"has shape \(.*\), the config needs \(.*16"):
        ckpt.load_weights(wider, weights)


def test_state_json_and_the_stamps_must_agree(tmp_path):
    run = saved_run(tmp_path / "run", tiny(), steps=(2,))
    state = json.loads((run / "state.json").read_text())
    save_json(run / "state.json", {**state, "step": 3})
    with pytest.raises(UserError, match="mixes two checkpoints: state.json says step 3 but optimizer.pt from "
                                        "step 2, model.safetensors from step 2"):
        ckpt.load_checkpoint(run)
    save_json(run / "state.json", {**state, "step": -1})
    with pytest.raises(UserError, match="'step' must be a non-negative integer, got -1"):
        ckpt.read_state(run)
    save_json(run / "state.json", state)
    (ckpt.checkpoint_dir(run) / "optimizer.pt").unlink()
    with pytest.raises(UserError, match="has no optimizer state to resume from"):
        ckpt.load_checkpoint(run)


def test_a_config_of_another_kind_or_shape_is_one_line(tmp_path):
    save_json(tmp_path / "config.json", {"kind": "seq2seq", "model": {}})
    with pytest.raises(UserError, match="holds a 'seq2seq' run, not a 'gpt' one"):
        ckpt.read_run_config(tmp_path)
    save_json(tmp_path / "config.json", {"kind": "gpt"})
    with pytest.raises(UserError, match="is not an attnlab run config"):
        ckpt.read_run_config(tmp_path)
    with pytest.raises(FileNotFoundError, match="not found"):
        ckpt.load_model(tmp_path / "missing")


def test_a_corpus_file_is_kept_as_an_absolute_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("corpus.txt").write_text("abcde" * 10)
    ckpt.save_run_config("run", tiny().config, TrainConfig(corpus="corpus.txt"), TOK)
    assert json.loads(Path("run/config.json").read_text())["corpus_path"] == str(tmp_path / "corpus.txt")
    ckpt.save_run_config("copy", tiny().config, TrainConfig(corpus="corpus.txt"), TOK, resolve_corpus=False,
                         corpus_path="/data/the-original.txt")  # import-hf keeps the run's own path
    assert json.loads(Path("copy/config.json").read_text())["corpus_path"] == "/data/the-original.txt"


def test_a_failed_save_keeps_the_committed_checkpoint_and_leaves_nothing(tmp_path, monkeypatch):
    model = tiny()
    run = saved_run(tmp_path / "run", model, steps=(2,))
    before = ckpt.checkpoint_dir(run)

    def full_disk(path, obj):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ckpt, "save_torch", full_disk)
    optimizer = torch.optim.AdamW(model.parameters())
    with open_run_folder(run, "resume"):
        with pytest.raises(UserError, match="keeps its checkpoint of step 2") as caught:
            ckpt.save_checkpoint(run, model, ckpt.training_state(optimizer, torch.device("cpu")), {"step": 4})
    assert caught.value.code == "write_failed"
    assert ckpt.checkpoint_dir(run) == before and sorted(p.name for p in run.glob("checkpoint-*")) == [before.name]
    assert set(load_tensors(before / "model.safetensors")) == set(ckpt.model_state_dict(model))
