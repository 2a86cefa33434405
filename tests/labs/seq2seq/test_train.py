"""attnlab.labs.seq2seq.train: the learning rate it uses, seed 002's regression program, the copy
task learned, and a resumed run bit-identical to an uninterrupted one."""

import json
import os
import signal

import pytest
import torch

from seq2seq_helpers import seq2seq_token_model
from train_helpers import one_thread  # noqa: F401 (an autouse fixture)

from attnlab.config import Seq2SeqConfig
from attnlab.labs.seq2seq.tasks import TokenTask, exact_match
from attnlab.labs.seq2seq.train import (add_to_state, read_run_config, save_run_config, teacher_forced_loss,
                                        train_plus2_regression, train_seq2seq)
from attnlab.model.seq2seq import EncoderDecoder
from attnlab.runs.metrics import read_metrics
from attnlab.train.loop import get_lr


def test_get_lr_as_seq2seq_uses_it():  # cosine to lr / 10; min_lr = lr is a constant rate
    assert get_lr(0, 1.0, 0.1, warmup_iters=10, decay_iters=100) == pytest.approx(0.1)
    assert get_lr(10, 1.0, 0.1, warmup_iters=10, decay_iters=100) == pytest.approx(1.0)
    assert get_lr(100, 1.0, 0.1, warmup_iters=10, decay_iters=100) == pytest.approx(0.1)
    assert get_lr(50, 1.0, 1.0, warmup_iters=0, decay_iters=100) == 1.0


# --- training ---------------------------------------------------------------------------------------------
def test_plus2_regression_runs_the_seed_program_shape():
    losses = []
    model, result = train_plus2_regression(
        epochs=30, on_event=lambda kind, info: losses.append(info["loss"]) if kind == "step" else None)
    assert len(losses) == 31  # epochs 0..30, as the seed's range(epochs + 1)
    assert losses[-1] < losses[0]
    assert len(result["teacher_forced"]) == len(result["autoregressive"]) == 5
    assert result["teacher_forced"][0] == pytest.approx(result["autoregressive"][0])  # same first input: 0
    assert not model.training


@pytest.mark.slow
def test_copy_task_reaches_100_percent_held_out():
    task = TokenTask("copy", vocab=5, min_len=1, max_len=5)
    torch.manual_seed(0)
    cfg = Seq2SeqConfig(src_vocab_size=task.src_vocab_size, tgt_vocab_size=task.tgt_vocab_size, max_seq_len=8,
                        d_model=32, n_heads=4, n_encoder_layers=1, n_decoder_layers=1, d_ff=64, norm="pre",
                        dropout=0.0)
    model = EncoderDecoder(cfg)
    train_seq2seq(model, lambda step: task.sample(32, torch.Generator().manual_seed(step), held_out=False),
                  steps=COPY_STEPS, lr=3e-3, warmup=20)
    acc, _ = exact_match(model, task.sample(300, torch.Generator().manual_seed(99), held_out=True))
    assert acc == 1.0


COPY_STEPS = 400


@pytest.mark.parametrize("stop_at", [3, 4])  # at a checkpoint step, and between two
def test_resume_is_bit_identical_to_an_uninterrupted_run(tmp_path, stop_at):
    task = TokenTask("reverse", vocab=4, min_len=1, max_len=3)
    cfg = Seq2SeqConfig(src_vocab_size=task.src_vocab_size, tgt_vocab_size=task.tgt_vocab_size, max_seq_len=4,
                        d_model=16, n_heads=2, n_encoder_layers=1, n_decoder_layers=1, d_ff=32, norm="pre",
                        dropout=0.1)  # dropout: the RNG state must be restored too

    def batch(step: int):
        return task.sample(8, torch.Generator().manual_seed(step), held_out=False)

    def run(name: str, resume: bool = False, on_event=None):
        torch.manual_seed(0)
        model = EncoderDecoder(cfg)
        _, step, interrupted = train_seq2seq(model, batch, steps=8, lr=3e-3, warmup=2, run_dir=tmp_path / name,
                                             resume=resume, save_every=3, on_event=on_event)
        return model, step, interrupted

    def press_ctrl_c(kind, info):
        if kind == "step" and info["step"] == stop_at:
            os.kill(os.getpid(), signal.SIGINT)  # the loop saves and stops after this step

    straight, _, _ = run("straight")
    _, step, interrupted = run("resumed", on_event=press_ctrl_c)
    assert interrupted and step == stop_at
    assert json.loads((tmp_path / "resumed" / "state.json").read_text())["step"] == stop_at
    resumed, step, interrupted = run("resumed", resume=True)
    assert step == 8 and not interrupted
    losses = [[(m["step"], m["loss"]) for m in read_metrics(tmp_path / name)] for name in ("straight", "resumed")]
    assert losses[0] == losses[1] and len(losses[0]) == 8
    for name, value in straight.state_dict().items():
        assert torch.equal(resumed.state_dict()[name], value), name


def test_the_teacher_forced_loss_is_cross_entropy_of_the_labels_from_the_true_previous_targets():
    task = TokenTask("reverse", vocab=6, min_len=1, max_len=4)
    batch = task.sample(5, torch.Generator().manual_seed(0), held_out=False)
    model = seq2seq_token_model(seed=2)
    with torch.no_grad():
        logits, _ = model(batch.src, batch.tgt_in, src_key_padding_mask=batch.src_pad,
                          tgt_key_padding_mask=batch.tgt_pad)
        loss = teacher_forced_loss(model, batch)
    kept = batch.labels != -1
    by_hand = -logits.log_softmax(-1)[kept].gather(-1, batch.labels[kept][:, None]).mean()
    torch.testing.assert_close(loss, by_hand)


def test_a_run_folders_config_and_state_results(tmp_path):
    config = Seq2SeqConfig(src_vocab_size=7, tgt_vocab_size=7, max_seq_len=5, d_model=16, n_heads=2)
    save_run_config(tmp_path, config, {"name": "copy"}, {"steps": 3})
    saved = read_run_config(tmp_path)
    assert saved["kind"] == "seq2seq" and saved["task"] == {"name": "copy"} and saved["train"] == {"steps": 3}
    assert Seq2SeqConfig.from_dict(saved["model"]) == config
    (tmp_path / "state.json").write_text(json.dumps({"step": 3, "checkpoint": "checkpoint-000003-ab"}))
    add_to_state(tmp_path, held_out_exact_match=0.5)
    assert json.loads((tmp_path / "state.json").read_text()) == {"step": 3, "checkpoint": "checkpoint-000003-ab",
                                                                 "held_out_exact_match": 0.5}
    (tmp_path / "config.json").write_text(json.dumps({"kind": "gpt", "model": {}}))
    with pytest.raises(ValueError, match="'gpt'"):
        read_run_config(tmp_path)


def test_a_batch_is_asked_for_by_its_step_so_a_resumed_run_sees_the_same_ones():
    asked = []
    model = EncoderDecoder(Seq2SeqConfig(src_vocab_size=7, tgt_vocab_size=7, max_seq_len=4, d_model=16, n_heads=2,
                                         n_encoder_layers=1, n_decoder_layers=1, d_ff=16))
    task = TokenTask("copy", vocab=4, max_len=3)

    def batch(step):
        asked.append(step)
        return task.sample(4, torch.Generator().manual_seed(step), held_out=False)

    _, step, interrupted = train_seq2seq(model, batch, steps=3, lr=1e-3)
    assert (step, interrupted, asked) == (3, False, [0, 1, 2]) and not model.training
