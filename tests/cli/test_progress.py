"""cli/_progress.py: the lines a training run prints, and the bar's step, loss and smoothed speed."""

from __future__ import annotations

from attnlab.cli._progress import Progress

START = {"parameters": 1234567, "device": "cpu", "dtype": "fp32", "max_iters": 10, "step": 2}


def test_without_a_bar_the_start_and_each_evaluation_are_lines():
    lines = []
    progress = Progress(lines.append, enabled=False)
    progress("start", START)
    progress("step", {"step": 3, "loss": 2.0, "tokens_per_s": 10.0, "mfu": None})  # no bar: nothing
    progress("eval", {"step": 4, "train": 1.23456, "val": 2.0})
    progress.close()
    assert lines == ["model: 1,234,567 parameters on cpu (fp32)", "step 4: train loss 1.2346, val loss 2.0000"]


def test_a_gpts_start_line_names_its_tokens_per_step_and_the_peak():
    lines = []
    Progress(lines.append, enabled=False)("start", {**START, "tokens_per_step": 4096, "peak_flops": 1.5e12,
                                                    "peak_source": "measured matmul"})
    assert lines == ["model: 1,234,567 parameters on cpu (fp32), 4,096 tokens per step, MFU against 1.50 TFLOP/s "
                     "(measured matmul)"]


def test_the_bar_follows_the_steps_and_smooths_the_speed(capsys):
    lines = []
    progress = Progress(lines.append, enabled=True)
    progress("start", START)
    assert (progress.bar.n, progress.bar.total) == (2, 10)  # a resumed run starts at its step
    progress("step", {"step": 3, "loss": 2.5, "tokens_per_s": 100.0, "mfu": 0.5})
    assert progress.bar.n == 3 and progress.bar.postfix == "loss 2.5000, 100 tok/s, MFU 50.0%"
    progress("step", {"step": 5, "loss": 2.0, "tokens_per_s": 200.0, "mfu": 0.5})
    # 0.9 * 100 + 0.1 * 200 = 110 tokens/s; the MFU scaled to it: 50% * 110 / 200
    assert progress.bar.n == 5 and progress.bar.postfix == "loss 2.0000, 110 tok/s, MFU 27.5%"
    progress("step", {"step": 6, "loss": 1.0, "tokens_per_s": 110.0, "mfu": None})
    assert progress.bar.postfix == "loss 1.0000, 110 tok/s, MFU n/a"
    progress("step", {"step": 7, "loss": 1.0})  # a lab without a speed
    assert progress.bar.postfix == "loss 1.0000"
    progress("eval", {"step": 7, "train": 1.0, "val": 1.5})  # above the bar, not through `say`
    progress.close()
    assert lines == ["model: 1,234,567 parameters on cpu (fp32)"]
    assert "step 7: train loss 1.0000, val loss 1.5000" in capsys.readouterr().out
