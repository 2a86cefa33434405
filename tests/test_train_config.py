"""TrainConfig, presets, TOML files, and the device helpers (device choice, autocast, FLOPs)."""

from __future__ import annotations

import pytest
import torch

from attnlab.config import PRESETS, TrainConfig, load_toml, preset_config
from attnlab.device import (autocast, flops_per_token, known_gpu_peak, measure_matmul_flops, mfu, peak_flops,
                            pick_device)


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
    flops, source = peak_flops(torch.device("cpu"), "fp32")
    assert flops > 0 and "measured" in source  # a CPU is never looked up in a GPU table
