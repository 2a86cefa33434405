"""The encoder-decoder (seed 002): parity with torch.nn.Transformer, positional encoding,
causality, decoding, tasks, training and the CLI."""

from __future__ import annotations

import itertools
import json
import math
import os
import signal
import sys
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from attnlab.runs.checkpoint import checkpoint_dir
from attnlab.runs.metrics import read_metrics
from attnlab.cli import main
from attnlab.config import Seq2SeqConfig
from attnlab.model.embeddings import SinusoidalPositionalEncoding, sinusoidal_table
from attnlab.model.points import named_points
from attnlab.model.seq2seq import Decoder, Encoder, EncoderDecoder, copy_from_torch_transformer
from attnlab.labs.seq2seq.tasks import (BOS, EOS, TokenTask, capture_cross_attention, diagonal_mass, exact_match,
                                   plus2_regression_data)
from attnlab.labs.seq2seq.train import train_plus2_regression, train_seq2seq
from attnlab.train.loop import get_lr

from train_helpers import one_thread  # noqa: E402,F401 (an autouse fixture)


# --- seed 002's classes, verbatim (batch-first PositionalEncoding and TransformerModel) -------------
class SeedPositionalEncoding(nn.Module):
    def __init__(self, d_model, max_len=5000):
        super().__init__()
        position = torch.arange(max_len).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
        pe = torch.zeros(max_len, 1, d_model)
        pe[:, 0, 0::2] = torch.sin(position * div_term)
        pe[:, 0, 1::2] = torch.cos(position * div_term)
        self.register_buffer('pe', pe)

    def forward(self, x):
        return x + self.pe[:x.size(1)].transpose(0, 1)


class SeedTransformerModel(nn.Module):
    def __init__(self, input_dim, d_model, nhead, num_encoder_layers, num_decoder_layers, dim_feedforward):
        super().__init__()
        self.d_model = d_model
        self.input_embedding = nn.Linear(input_dim, d_model)
        self.pos_encoder = SeedPositionalEncoding(d_model)
        self.transformer = nn.Transformer(d_model=d_model, nhead=nhead, num_encoder_layers=num_encoder_layers,
                                          num_decoder_layers=num_decoder_layers, dim_feedforward=dim_feedforward,
                                          batch_first=True)
        self.fc_out = nn.Linear(d_model, input_dim)

    def forward(self, src, tgt):
        src = self.pos_encoder(self.input_embedding(src) * math.sqrt(self.d_model))
        tgt = self.pos_encoder(self.input_embedding(tgt) * math.sqrt(self.d_model))
        tgt_mask = self.transformer.generate_square_subsequent_mask(tgt.size(1)).to(src.device)
        output = self.transformer(src, tgt, tgt_mask=tgt_mask)
        return self.fc_out(output)


# --- positional encoding -------------------------------------------------------------------------------
def test_positional_encoding_known_values():
    pe = sinusoidal_table(50, 8)
    torch.testing.assert_close(pe[0], torch.tensor([0.0, 1.0] * 4))
    assert pe[1, 0].item() == pytest.approx(math.sin(1.0))
    assert pe[1, 1].item() == pytest.approx(math.cos(1.0))
    assert pe[7, 6].item() == pytest.approx(math.sin(7 / 10000 ** (6 / 8)))
    x = torch.randn(2, 6, 8)
    torch.testing.assert_close(SinusoidalPositionalEncoding(8)(x), SeedPositionalEncoding(8)(x))
    with pytest.raises(ValueError, match="even"):
        sinusoidal_table(10, 7)
    with pytest.raises(ValueError, match="max_len"):
        SinusoidalPositionalEncoding(8, max_len=4)(x)


def test_positional_encoding_png(tmp_path):
    pytest.importorskip("matplotlib")
    from attnlab.viz.positional import save_positional_encoding_png

    path = tmp_path / "pe.png"
    save_positional_encoding_png(sinusoidal_table(64, 16), path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["pe.png"]  # no temp file left


# --- parity with torch.nn.Transformer --------------------------------------------------------------------
def _pair(C, H, F, n_enc, n_dec, norm_first, seed):
    torch.manual_seed(seed)
    ref = nn.Transformer(C, H, n_enc, n_dec, F, dropout=0.0, batch_first=True, norm_first=norm_first).eval()
    norm = "pre" if norm_first else "post"
    enc = Encoder(n_enc, C, H, F, norm=norm).eval()
    dec = Decoder(n_dec, C, H, F, norm=norm).eval()
    copy_from_torch_transformer(enc, dec, ref)
    return ref, enc, dec


def _masks(B, S, T, seed):
    g = torch.Generator().manual_seed(seed)
    src_len = torch.randint(1, S + 1, (B,), generator=g)
    tgt_len = torch.randint(1, T + 1, (B,), generator=g)
    src_pad = torch.arange(S) >= src_len.unsqueeze(1)  # (B, S) True at padding, right-padded
    tgt_pad = torch.arange(T) >= tgt_len.unsqueeze(1)
    return src_pad, tgt_pad


@pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("C,H,F,n_enc,n_dec,B,S,T", [(16, 2, 32, 2, 2, 3, 5, 5), (24, 4, 40, 1, 3, 4, 7, 4),
                                                     (32, 8, 16, 3, 1, 2, 3, 6)])
def test_parity_with_nn_transformer(norm_first, C, H, F, n_enc, n_dec, B, S, T):
    """Fast path off (nested tensors would zero the encoder output at padded positions), so
    every position is compared, padded ones included."""
    ref, enc, dec = _pair(C, H, F, n_enc, n_dec, norm_first, seed=C + n_dec)
    src, tgt = torch.randn(B, S, C), torch.randn(B, T, C)
    src_pad, tgt_pad = _masks(B, S, T, seed=C)
    causal = torch.ones(T, T, dtype=torch.bool).triu(1)  # True = blocked, PyTorch's boolean convention
    prev = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with torch.no_grad():
            memory_ref = ref.encoder(src, src_key_padding_mask=src_pad)
            out_ref = ref(src, tgt, tgt_mask=causal, src_key_padding_mask=src_pad, tgt_key_padding_mask=tgt_pad,
                          memory_key_padding_mask=src_pad)
    finally:
        torch.backends.mha.set_fastpath_enabled(prev)
    with torch.no_grad():
        memory = enc(src, key_padding_mask=src_pad)
        out = dec(tgt, memory, tgt_key_padding_mask=tgt_pad, memory_key_padding_mask=src_pad)
    torch.testing.assert_close(memory, memory_ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out, out_ref, atol=1e-5, rtol=1e-5)


@pytest.mark.filterwarnings("ignore:The PyTorch API of nested tensors")
def test_parity_with_fast_path_on_non_padded_positions():
    """With PyTorch's fast path on, the encoder runs on nested tensors and padded memory rows
    come back as 0; the real positions, and so the decoder output, still agree."""
    ref, enc, dec = _pair(16, 2, 32, 2, 2, False, seed=3)
    B, S, T = 4, 6, 5
    src, tgt = torch.randn(B, S, 16), torch.randn(B, T, 16)
    src_pad, _ = _masks(B, S, T, seed=5)
    with torch.no_grad():
        memory_ref = ref.encoder(src, src_key_padding_mask=src_pad)
        memory = enc(src, key_padding_mask=src_pad)
        out_ref = ref.decoder(tgt, memory_ref, tgt_mask=ref.generate_square_subsequent_mask(T), tgt_is_causal=True,
                              memory_key_padding_mask=src_pad)
        out = dec(tgt, memory, memory_key_padding_mask=src_pad)
    torch.testing.assert_close(memory[~src_pad], memory_ref[~src_pad], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out, out_ref, atol=1e-5, rtol=1e-5)


def test_whole_model_equals_seed_002_transformer_model():
    torch.manual_seed(0)
    seed_model = SeedTransformerModel(1, 16, 2, 2, 2, 32).eval()
    ours = EncoderDecoder(Seq2SeqConfig()).eval()  # the defaults are seed 002's model
    copy_from_torch_transformer(ours.encoder, ours.decoder, seed_model.transformer)
    ours.embed.load_state_dict(seed_model.input_embedding.state_dict())
    ours.head.load_state_dict(seed_model.fc_out.state_dict())
    src, tgt, _ = plus2_regression_data()
    with torch.no_grad():
        torch.testing.assert_close(ours(src, tgt)[0], seed_model(src, tgt), atol=1e-5, rtol=1e-5)


def test_copy_rejects_mismatched_layer_counts():
    ref = nn.Transformer(16, 2, 2, 2, 32, batch_first=True)
    with pytest.raises(ValueError, match="key table"):
        copy_from_torch_transformer(Encoder(1, 16, 2, 32), Decoder(2, 16, 2, 32), ref)


# --- masks, causality, decoding -------------------------------------------------------------------------
def _token_model(norm="pre", seed=0, vocab=9):
    torch.manual_seed(seed)
    cfg = Seq2SeqConfig(src_vocab_size=vocab, tgt_vocab_size=vocab, max_seq_len=32, d_model=32, n_heads=4,
                        d_ff=64, norm=norm, dropout=0.0)
    return EncoderDecoder(cfg).eval()


@pytest.mark.parametrize("norm", ["pre", "post"])
def test_decoder_never_looks_at_future_target_tokens(norm):
    model = _token_model(norm)
    src = torch.randint(3, 9, (2, 6))
    tgt = torch.randint(3, 9, (2, 7))
    with torch.no_grad():
        memory = model.encode(src)
        base = model.decode(tgt, memory)
        for t in range(6):
            changed = tgt.clone()
            changed[:, t + 1:] = torch.randint(3, 9, changed[:, t + 1:].shape)
            out = model.decode(changed, memory)
            torch.testing.assert_close(out[:, :t + 1], base[:, :t + 1])


def test_padded_source_tokens_are_ignored():
    model = _token_model()
    src = torch.randint(3, 9, (2, 6))
    src_pad = torch.zeros(2, 6, dtype=torch.bool)
    src_pad[:, 4:] = True
    other = src.clone()
    other[:, 4:] = 7
    tgt = torch.randint(3, 9, (2, 5))
    with torch.no_grad():
        a, _ = model(src, tgt, src_key_padding_mask=src_pad)
        b, _ = model(other, tgt, src_key_padding_mask=src_pad)
    torch.testing.assert_close(a, b)


def test_beam_width_1_equals_greedy():
    model = _token_model(seed=1)
    src = torch.randint(3, 9, (5, 6))
    greedy = model.greedy_decode(src, BOS, 7, eos=EOS)
    torch.testing.assert_close(model.beam_search(src, BOS, 7, beam_width=1, eos=EOS), greedy)
    assert greedy.shape == (5, 7)


def test_full_beam_finds_the_most_probable_sequence():
    """With beam_width >= V**(T-1) nothing is ever pruned, so beam search is exhaustive."""
    model = _token_model(seed=2, vocab=3)
    src = torch.randint(0, 3, (2, 4))
    T = 3
    best = model.beam_search(src, 0, T, beam_width=27)
    with torch.no_grad():
        memory = model.encode(src)
        for b in range(2):
            scores = {}
            for seq in itertools.product(range(3), repeat=T):
                ids = torch.tensor([[0, *seq]])
                logp = model.decode(ids[:, :-1], memory[b:b + 1]).log_softmax(-1)  # (1, T, V)
                scores[seq] = logp[0, torch.arange(T), ids[0, 1:]].sum().item()
            assert tuple(best[b].tolist()) == max(scores, key=scores.get)


def test_continuous_greedy_feeds_back_predictions():
    model = EncoderDecoder(Seq2SeqConfig(dropout=0.0)).eval()
    src, _, _ = plus2_regression_data()
    auto = model.greedy_decode(src, 0.0, 5)  # (1, 5, 1)
    tgt = torch.cat([torch.zeros(1, 1, 1), auto[:, :-1]], dim=1)  # its own predictions, shifted right
    with torch.no_grad():
        torch.testing.assert_close(model(src, tgt)[0], auto)
    with pytest.raises(ValueError, match="beam search"):
        model.beam_search(src, 0, 5)


# --- tasks -----------------------------------------------------------------------------------------------
def test_task_rules_and_layout():
    values = torch.tensor([[3, 1, 4, 0], [2, 7, 0, 0]])
    lengths = torch.tensor([3, 2])
    rules = {"copy": [[3, 1, 4], [2, 7]], "reverse": [[4, 1, 3], [7, 2]], "sort": [[1, 3, 4], [2, 7]],
             "plus2": [[5, 3, 6], [4, 9]]}
    for name, want in rules.items():
        batch = TokenTask(name, vocab=8, max_len=4).encode(values, lengths)
        task = TokenTask(name, vocab=8, max_len=4)
        assert [task.decode_values(row) for row in batch.labels.clamp(min=0).tolist()] == want
    batch = TokenTask("reverse", vocab=8, max_len=4).encode(values, lengths)
    assert batch.src.tolist() == [[6, 4, 7, 0], [5, 10, 0, 0]]
    assert batch.tgt_in.tolist() == [[BOS, 7, 4, 6, 0], [BOS, 10, 5, 0, 0]]
    assert batch.labels.tolist() == [[7, 4, 6, EOS, -1], [10, 5, EOS, -1, -1]]
    assert batch.src_pad.tolist() == [[False, False, False, True], [False, False, True, True]]


def test_held_out_split_is_disjoint_and_deterministic():
    task = TokenTask("copy", vocab=4, min_len=1, max_len=4)
    train = task.sample(3000, torch.Generator().manual_seed(0), held_out=False)
    test = task.sample(300, torch.Generator().manual_seed(1), held_out=True)
    key = lambda b: {tuple(r[r > 0].tolist()) for r in b.src}  # noqa: E731
    assert key(train).isdisjoint(key(test))
    assert len(key(test)) > 10
    again = task.sample(300, torch.Generator().manual_seed(1), held_out=True)
    assert torch.equal(again.src, test.src)


def test_bad_task_arguments():
    with pytest.raises(ValueError, match="unknown task"):
        TokenTask("add")
    with pytest.raises(ValueError, match="vocab"):
        TokenTask("copy", vocab=1)
    with pytest.raises(ValueError, match="max_len"):
        TokenTask("copy", min_len=5, max_len=3)
    with pytest.raises(ValueError, match="divisible"):
        Seq2SeqConfig(d_model=30, n_heads=4)


def test_diagonal_mass_and_capture():
    eye = torch.eye(4).expand(2, 3, 4, 4)  # (B, H, T, S)
    lengths = torch.tensor([4, 3])
    torch.testing.assert_close(diagonal_mass(eye, lengths), torch.ones(3))
    assert diagonal_mass(eye, lengths, anti=True).tolist() == pytest.approx([1 / 7] * 3)
    model = _token_model()
    src, tgt = torch.randint(3, 9, (2, 5)), torch.randint(3, 9, (2, 4))
    out, weights = capture_cross_attention(model, lambda: model(src, tgt)[0])
    assert sorted(weights) == ["decoder.blocks.0.cross_attn", "decoder.blocks.1.cross_attn"]
    assert weights["decoder.blocks.0.cross_attn"].shape == (2, 4, 4, 5)
    torch.testing.assert_close(weights["decoder.blocks.1.cross_attn"].sum(-1), torch.ones(2, 4, 4))
    assert not any(p.active for p in named_points(model).values())
    torch.testing.assert_close(out, model(src, tgt)[0])  # the explicit path gives the fast path's output


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


# --- CLI ------------------------------------------------------------------------------------------------
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


# --- the web lab ---------------------------------------------------------------------------------------------

TINY_TASK = {"task": "copy", "vocab": 4, "max_len": 3, "d_model": 16, "n_heads": 2, "n_layers": 1, "steps": 3,
             "batch_size": 8, "eval_size": 10, "examples": 2}


def _flags(settings: dict) -> list[str]:
    return [arg for k, v in settings.items() for arg in (f"--{k.replace('_', '-')}", str(v))]


@pytest.mark.parametrize("settings", [TINY_TASK, {"task": "plus2-regression", "steps": 3}], ids=["copy", "regression"])
def test_the_web_lab_answers_what_the_command_prints(settings, tmp_path, capsys):
    """POST /api/seq2seq runs the same lab with the same settings: the same JSON as --json."""
    from starlette.testclient import TestClient

    from attnlab.serve.app import make_app
    from attnlab.serve.store import ModelStore

    assert main(["seq2seq", *_flags(settings), "--json", "--no-progress"]) == 0
    cli = json.loads(capsys.readouterr().out)
    client = TestClient(make_app(ModelStore(tmp_path, minilm=False), loopback=False))
    answer = client.post("/api/seq2seq", json=settings)
    assert answer.status_code == 200, answer.text
    assert answer.json() == cli and cli["task"] == settings["task"]
    for body, status, code in (({"out": "runs/x"}, 400, "bad_value"), ({"task": "sort", "vocab": 1}, 400, "bad_input"),
                               ({"task": "sort", "steps": 10 ** 6}, 413, "over_budget")):
        got = client.post("/api/seq2seq", json=body)
        assert (got.status_code, got.json()["code"]) == (status, code), got.text
