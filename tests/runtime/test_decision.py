"""attnlab.runtime.decision: the device, precision and threads every command runs with, decided once."""

from __future__ import annotations

import pytest
import torch

from attnlab.errors import UserError
from attnlab.runtime.decision import Runtime, decide

AVX2_ONLY = ["fpu", "avx2", "fma"]
AVX512_BF16 = ["avx2", "avx512f", "avx512_bf16"]


@pytest.mark.parametrize("others, threads", [(0.0, 2), (0.4, 2), (0.8, 1), (1.0, 1), (2.0, 1), (1.9, 1)])
def test_the_threads_are_the_cpus_other_processes_leave_idle(others, threads):
    rt = decide("cpu", "fp32", others=others, cpus=2, default=2)
    assert rt.threads == threads  # never 0, and a CPU more than half idle counts as idle
    assert rt.lines[1] == (f"threads: {threads} thread{'s' if threads > 1 else ''} (other processes kept "
                           f"{others:.1f} of 2 CPUs busy as this one started; --threads N overrides)")


def test_never_more_threads_than_torch_would_take_and_threads_n_is_taken_as_it_is():
    assert decide("cpu", "fp32", others=0.0, cpus=16, default=8).threads == 8
    assert decide("cpu", "fp32", threads=3, others=2.0, cpus=2, default=2).threads == 3  # --threads N overrides
    assert "--threads 3" in decide("cpu", "fp32", threads=3, cpus=2, default=2).lines[1]


def test_without_a_reading_the_load_average_stands_in():
    rt = decide("cpu", "fp32", cpus=2, default=2)  # others=None: os.getloadavg()
    assert 1 <= rt.threads <= 2 and "load average" in rt.lines[1]


def test_a_small_command_stops_at_its_cap_but_threads_n_still_wins():
    rt = decide("cpu", "fp32", others=0.0, most=1, cpus=2, default=2)
    assert rt.threads == 1 and "at most 1 for a model this small" in rt.lines[1]
    assert decide("cpu", "fp32", threads=2, most=1, cpus=2, default=2).threads == 2


def test_auto_precision_follows_the_cpu_for_training_and_stays_fp32_for_what_is_read():
    assert decide("cpu", "auto", flags=AVX2_ONLY, cpus=2, default=2).dtype == "fp32"
    assert decide("cpu", "auto", flags=AVX512_BF16, cpus=2, default=2).dtype == "bf16"  # native bf16: measured faster
    read = decide("cpu", "auto", training=False, flags=AVX512_BF16, cpus=2, default=2)
    assert read.dtype == "fp32" and read.lines[0].startswith("precision: fp32 (auto: a forward pass")
    assert decide("cpu", "bf16", training=False, flags=AVX512_BF16, cpus=2, default=2).dtype == "bf16"
    assert decide("cpu", "auto", flags=AVX2_ONLY, cpus=2, default=2).lines[0] == \
        "precision: fp32 (auto: this CPU has no native bf16)"
    assert decide("cpu", "fp32", dtype_from="the run's", cpus=2, default=2).lines[0] == "precision: fp32 (the run's)"


def test_emulated_bf16_runs_after_one_warning_line():
    rt = decide("cpu", "bf16", flags=AVX2_ONLY, cpus=2, default=2)
    assert rt.dtype == "bf16" and len(rt.warnings) == 1 and "--dtype fp32" in rt.warnings[0]
    assert decide("cpu", "bf16", flags=AVX512_BF16, cpus=2, default=2).warnings == ()


@pytest.mark.parametrize("kwargs, words", [
    (dict(threads=-1), "--threads must be >= 0, got -1"),
    (dict(dtype="fp8"), "unknown dtype 'fp8'"),
    (dict(dtype="fp16"), "fp16 needs a CUDA device"),
    (dict(device="tpu"), "unknown device 'tpu'"),
])
def test_bad_values_are_one_line_user_errors(kwargs, words):
    with pytest.raises(UserError) as info:
        decide(**{"device": "cpu", **kwargs})
    assert words in str(info.value) and "\n" not in str(info.value)


def test_apply_sets_torch_threads_and_autocast_is_the_dtype():
    before = torch.get_num_threads()
    try:
        rt = Runtime(torch.device("cpu"), "bf16", 1, ("precision: bf16", "threads: 1"))
        assert rt.apply() is rt and torch.get_num_threads() == 1
        with rt.autocast():
            out = torch.nn.functional.linear(torch.ones(2, 3), torch.ones(4, 3))
        assert out.dtype == torch.bfloat16
        with decide("cpu", "fp32").autocast():
            assert torch.nn.functional.linear(torch.ones(2, 3), torch.ones(4, 3)).dtype == torch.float32
    finally:
        torch.set_num_threads(before)
