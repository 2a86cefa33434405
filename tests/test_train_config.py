"""TrainConfig, presets, TOML files, and the device helpers (device choice, autocast, FLOPs)."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from attnlab.config import MODEL_FIELDS, PRESETS, GPTConfig, TrainConfig, load_toml, preset_config
from attnlab.device import (autocast, cache_dir, flops_per_token, known_gpu_peak, measure_matmul_flops, mfu,
                            peak_flops, peak_key, pick_device)


def test_presets_are_the_documented_recipes():
    cpu = preset_config("cpu")
    assert (cpu.n_layers, cpu.n_heads, cpu.d_model, cpu.block_size, cpu.batch_size) == (4, 4, 128, 64, 12)
    assert (cpu.learning_rate, cpu.min_lr, cpu.warmup_iters, cpu.max_iters) == (1e-3, 1e-4, 100, 2000)
    assert (cpu.beta2, cpu.weight_decay, cpu.grad_clip, cpu.dropout) == (0.99, 0.1, 1.0, 0.0)
    big = preset_config("shakespeare")
    assert (big.n_layers, big.n_heads, big.d_model, big.block_size, big.batch_size) == (6, 6, 384, 256, 64)
    assert (big.dropout, big.max_iters) == (0.2, 5000)
    seed = preset_config("seed").model_config(vocab_size=65)
    assert (seed.d_model, seed.n_heads, seed.n_layers, seed.activation) == (64, 4, 4, "relu")
    assert not seed.qkv_bias and not seed.tie_weights and seed.lm_head_bias
    assert set(PRESETS) == {"cpu", "shakespeare", "seed"}


def test_model_config_maps_block_size_to_max_seq_len():
    model = TrainConfig(block_size=32, d_ff=100).model_config(vocab_size=7)
    assert (model.max_seq_len, model.vocab_size, model.d_ff) == (32, 7, 100)


def test_the_model_fields_are_gpt_configs():
    """TrainConfig's model fields are GPTConfig's, in its order, with its types, help and
    defaults; only the context length is renamed (block_size) and shorter by default (the cpu
    preset's), the activation is nanoGPT's exact GELU (GPTConfig's is GPT-2's tanh form), and
    vocab_size is left to the tokenizer (TrainConfig.vocab_size is bpe's)."""
    gpt = [f for f in dataclasses.fields(GPTConfig) if f.name != "vocab_size"]
    train = {f.name: f for f in dataclasses.fields(TrainConfig)}
    assert MODEL_FIELDS == tuple("block_size" if f.name == "max_seq_len" else f.name for f in gpt)
    for f, name in zip(gpt, MODEL_FIELDS):
        ours = train[name]
        assert (ours.type, ours.metadata["help"]) == (f.type, f.metadata["help"]), name
        assert ours.default == {"block_size": 64, "activation": "gelu"}.get(name, f.default), name
    assert train["vocab_size"].metadata["help"].startswith("bpe vocabulary size")
    assert all(f.metadata["help"] for f in train.values())  # every flag of `attnlab train` says what it is
    assert TrainConfig().model_config(vocab_size=7) == GPTConfig(vocab_size=7, max_seq_len=64, activation="gelu")
    switched = TrainConfig(ffn=False, layer_norm_eps=1e-6, init="torch", block_size=9).model_config(5)
    assert (switched.ffn, switched.layer_norm_eps, switched.init, switched.max_seq_len) == (False, 1e-6, "torch", 9)


@pytest.mark.parametrize("fields, message", [
    (dict(d_model=30, n_heads=4), "divisible"),
    (dict(batch_size=0), "batch_size"),
    (dict(dtype="fp8"), "unknown dtype"),
    (dict(tokenizer="morse"), "unknown tokenizer"),
    (dict(min_lr=1.0, learning_rate=0.1), "min_lr"),
    (dict(activation="swish"), "swish"),
])
def test_bad_fields_are_errors(fields, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**fields)


def test_unknown_preset_and_keys():
    with pytest.raises(ValueError, match="unknown preset 'gpu'"):
        preset_config("gpu")
    with pytest.raises(ValueError, match="unknown train config key.*max_iter"):
        TrainConfig.from_dict({"max_iter": 3})


def test_toml(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('preset = "seed"\nmax_iters = 10\nlearning_rate = 3e-4\n', encoding="utf-8")
    assert load_toml(str(path)) == {"preset": "seed", "max_iters": 10, "learning_rate": 3e-4}
    path.write_text("max_iters = 10\nwarmup = 3\n", encoding="utf-8")
    with pytest.raises(ValueError, match="unknown config key.*warmup"):
        load_toml(str(path))
    path.write_text("max_iters = \n", encoding="utf-8")
    with pytest.raises(ValueError, match="not valid TOML"):
        load_toml(str(path))


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
