"""The device helpers (device choice, autocast, FLOPs); TrainConfig, presets and TOML files: test_config.py."""

from __future__ import annotations

import json

import pytest
import torch

from attnlab.device import (autocast, cache_dir, flops_per_token, known_gpu_peak, measure_matmul_flops, mfu,
                            peak_flops, peak_key, pick_device)


def test_pick_device():
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(ValueError, match="unknown device"):
        pick_device("tpu7")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            pick_device("cuda")


def test_autocast_on_cpu():
    cpu = torch.device("cpu")
    a, b = torch.randn(4, 4), torch.randn(4, 4)
    with autocast(cpu, "bf16"):
        assert (a @ b).dtype == torch.bfloat16
    with autocast(cpu, "fp32"):
        assert (a @ b).dtype == torch.float32
    with pytest.raises(ValueError, match="fp16 needs a CUDA device"):
        autocast(cpu, "fp16")


def test_flops_and_mfu():
    # nanoGPT's figure for GPT-2 small (124M, 12 layers, 12 heads of 64, T = 1024)
    assert flops_per_token(124_000_000, 12, 12, 64, 1024) == 6 * 124_000_000 + 12 * 12 * 12 * 64 * 1024
    assert mfu(tokens_per_s=1000, flops_per_token_=1e9, peak=1e13) == pytest.approx(0.1)
    assert known_gpu_peak("NVIDIA A100-SXM4-80GB", "bf16")[0] == 312e12
    assert known_gpu_peak("NVIDIA H100 PCIe", "fp32")[0] == 51e12
    assert known_gpu_peak("NVIDIA L40S", "bf16") is None  # not mistaken for an L4
    assert known_gpu_peak("Some Future GPU") is None
    assert measure_matmul_flops(torch.device("cpu"), n=64, seconds=0.01) > 0


CPU = torch.device("cpu")


def test_mfu_is_against_a_peak_at_least_the_measured_matmul(tmp_path):
    cache = tmp_path / "peak.json"
    peak = peak_flops(CPU, "fp32", cache=cache, n=64)
    assert peak.flops > 0 and "matmuls" in peak.source and str(cache) in peak.source  # a CPU is never in a GPU table
    for _ in range(3):  # the same matmul, timed again: whatever it reaches, MFU stays <= 100%
        reached = measure_matmul_flops(CPU, "fp32", n=64, seconds=0.01)
        assert peak.mfu(reached) <= 1.0
        assert peak.flops >= reached
    assert peak.mfu(10 * peak.flops) == 1.0  # a step beyond the peak raises it...
    assert "raised" in peak.source
    assert json.loads(cache.read_text())[peak_key(CPU, "fp32")] == peak.flops  # ...and the cached figure
    assert peak_flops(CPU, "fp32", cache=cache, n=64).flops >= peak.flops  # which a new start then uses


def test_a_busy_start_does_not_lower_the_cached_peak(tmp_path):
    cache = tmp_path / "peak.json"
    key = peak_key(CPU, "bf16")
    cache.write_text(json.dumps({key: 1e18, "other machine": 5.0}))
    assert peak_flops(CPU, "bf16", cache=cache, n=64).flops == 1e18  # a cached figure: nothing measured
    peak = peak_flops(CPU, "bf16", cache=cache, n=64, repeats=1)
    assert peak.flops == 1e18 and "cached" in peak.source and "busy" in peak.source
    assert json.loads(cache.read_text()) == {key: 1e18, "other machine": 5.0}
    cache.write_text(json.dumps({key: 1.0}))  # a cached figure below what this start measures is raised
    assert peak_flops(CPU, "bf16", cache=cache, n=64, repeats=1).flops == json.loads(cache.read_text())[key] > 1.0
    cache.write_text("{not json")  # a damaged cache is measured again, not an error
    assert peak_flops(CPU, "bf16", cache=cache, n=64).flops > 0


def test_a_cached_peak_costs_the_start_no_matmuls(tmp_path, monkeypatch):
    cache = tmp_path / "peak.json"
    first = peak_flops(CPU, "fp32", cache=cache, n=64)  # nothing cached: measured
    monkeypatch.setattr("attnlab.device.best_matmul_flops", lambda *a, **k: pytest.fail("measured again"))
    again = peak_flops(CPU, "fp32", cache=cache)
    assert again.flops == first.flops and "cached in" in again.source


def test_the_peak_key_names_processor_threads_dtype_and_torch():
    key = peak_key(CPU, "bf16")
    assert f"{torch.get_num_threads()} thread" in key and "bf16" in key and torch.__version__ in key
    assert peak_key(CPU, "fp32") != key


def test_the_peak_is_measured_without_the_global_rng(tmp_path):
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    peak_flops(CPU, "fp32", cache=tmp_path / "peak.json", n=64)
    torch.testing.assert_close(torch.rand(3), expected)  # a resumed run's dropout masks stay the same


def test_the_default_cache_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTNLAB_CACHE_DIR", str(tmp_path / "a"))
    assert cache_dir() == tmp_path / "a"
    monkeypatch.delenv("ATTNLAB_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "attnlab"
