"""attnlab.device: the precision `--dtype auto` picks from a CPU's flags, and the peak measurement's size."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from train_helpers import TEXT, TINY, cli_main, one_thread  # noqa: F401 (an autouse fixture)

import attnlab.device as device_module
from attnlab.device import (bf16_warning, best_matmul_flops, cpu_flags, describe_dtype, native_bf16, pick_threads,
                            probe_size,
                            resolve_dtype)

CPU = torch.device("cpu")
AVX2_ONLY = ["fpu", "sse4_2", "avx", "avx2", "fma"]  # the AMD EPYC without AVX-512
AVX512_BF16 = AVX2_ONLY + ["avx512f", "avx512bw", "avx512_bf16"]
AMX = AVX2_ONLY + ["avx512f", "amx_tile", "amx_bf16"]


def test_the_flag_reader_reads_the_flags_line_of_a_cpuinfo_text():
    text = "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu avx2 avx512_bf16\n\nprocessor\t: 1\n"
    assert cpu_flags(text) == ["fpu", "avx2", "avx512_bf16"]
    assert cpu_flags("processor : 0\n") == []  # no flags line (not a Linux x86 cpuinfo)


def test_native_bf16_needs_avx512_bf16_or_amx():
    assert not native_bf16(AVX2_ONLY)
    assert not native_bf16(AVX2_ONLY + ["avx512f", "avx512bw"])  # AVX-512 without its bf16 instructions
    assert native_bf16(AVX512_BF16) and native_bf16(AMX)


def test_auto_is_fp32_on_a_cpu_without_native_bf16_and_explicit_choices_stay():
    assert resolve_dtype(CPU, "auto", flags=AVX2_ONLY) == "fp32"
    for dtype in ("fp32", "bf16"):
        assert resolve_dtype(CPU, dtype, flags=AVX2_ONLY) == dtype
    # with native bf16, auto follows the measured decision recorded in AUTO_BF16_ON_NATIVE_CPU
    expected = "bf16" if device_module.AUTO_BF16_ON_NATIVE_CPU else "fp32"
    assert resolve_dtype(CPU, "auto", flags=AVX512_BF16) == expected
    assert describe_dtype(CPU, "auto", "fp32", flags=AVX2_ONLY) == "fp32 (auto: this CPU has no native bf16)"


def test_bf16_warns_only_where_it_is_emulated():
    warning = bf16_warning(CPU, "bf16", flags=AVX2_ONLY)
    assert warning is not None and "--dtype fp32" in warning and "\n" not in warning
    assert bf16_warning(CPU, "bf16", flags=AVX512_BF16) is None
    assert bf16_warning(CPU, "fp32", flags=AVX2_ONLY) is None


def test_train_on_a_cpu_without_native_bf16(tmp_path, monkeypatch, capsys):
    # The flags the CLI sees are those of an AVX2-only CPU: auto trains in fp32 and says so first,
    # the run stores fp32; --dtype bf16 trains after one warning line naming --dtype fp32.
    monkeypatch.setattr(device_module, "cpu_flags", lambda cpuinfo=None: list(AVX2_ONLY))
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    base = ["train", "--corpus", str(corpus), "--out-dir", str(tmp_path / "runs"), *TINY,
            "--max-iters", "2", "--eval-interval", "2", "--sample-tokens", "0"]
    assert cli_main([*base, "--name", "auto"]) == 0
    out = capsys.readouterr()
    first = out.out.splitlines()[:3]
    assert "precision: fp32 (auto: this CPU has no native bf16)" in first
    assert any(line.startswith("threads: 1 thread (") for line in first)  # the fixture set 1: the cap
    assert "warning" not in out.err
    assert json.loads((tmp_path / "runs" / "auto" / "config.json").read_text())["train"]["dtype"] == "fp32"

    assert cli_main([*base, "--name", "bf16", "--dtype", "bf16"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("attnlab: warning:") and "--dtype fp32" in err[0]
    assert json.loads((tmp_path / "runs" / "bf16" / "config.json").read_text())["train"]["dtype"] == "bf16"


def test_the_peak_matrix_is_sized_from_the_probe():
    # the size is the largest whose matmul fits a share of the 0.5 s budget: 2·n³ / flops ≤ 0.5 / 5
    for flops in (1e6, 8e9, 120e9, 1e15):
        n = probe_size(flops, n_max=8192)
        assert n % 64 == 0 and 64 <= n <= 8192
        assert n == 64 or 2 * n**3 / flops <= 0.1
        assert n == 8192 or 2 * (n + 64) ** 3 / flops > 0.1  # the next size up would not fit
    assert probe_size(8e9) < probe_size(120e9)  # emulated bf16 (8 GFLOP/s) gets a smaller matrix than fp32


def test_a_slow_dtype_gets_a_small_matrix(tmp_path):
    # The probe's timing is injected: a dtype that reaches 10 MFLOP/s is measured with 64x64 matmuls
    # (a 2048x2048 one would take half an hour at that rate), and the source says which size ran.
    seen = []
    probe = lambda device, dtype: seen.append(dtype) or 1e7  # noqa: E731
    flops, n = best_matmul_flops(CPU, "bf16", probe=probe)
    assert seen == ["bf16"] and n == 64 and flops > 0
    peak = device_module.peak_flops(CPU, "bf16", cache=tmp_path / "peak.json", probe=probe)
    assert "64x64" in peak.source
    fast = device_module.peak_flops(CPU, "fp32", cache=tmp_path / "peak.json", probe=lambda d, t: 8e9, repeats=1)
    assert f"{probe_size(8e9, repeats=1)}x{probe_size(8e9, repeats=1)}" in fast.source  # a faster probe, a larger matrix


def test_threads_follow_the_load_at_start():
    assert pick_threads(0, load=0.1, cpus=2, default=2)[0] == 2  # a quiet machine: torch's own choice
    assert pick_threads(0, load=1.0, cpus=2, default=2)[0] == 1  # one CPU taken by another job
    assert pick_threads(0, load=6.0, cpus=2, default=2)[0] == 1  # busy: never 0
    assert pick_threads(0, load=0.0, cpus=16, default=8)[0] == 8  # never more than torch's choice
    threads, why = pick_threads(4, load=9.0, cpus=2, default=2)
    assert threads == 4 and why == "--threads 4"  # --threads N overrides
    assert "load average 6.0" in pick_threads(0, load=6.0, cpus=2, default=2)[1]
