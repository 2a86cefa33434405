"""Where training runs and how fast it could go: device choice, mixed precision, peak FLOPs, MFU.

MFU (model FLOPs utilisation) = the FLOPs the model needs per second / the device's peak.
A GPT needs about 6·N FLOPs per token to train (2·N forward, 4·N backward, N = parameters)
plus the attention scores, 12·L·H·D·T per token (PaLM, appendix B; nanoGPT's estimate).
The peak is taken from a table of known GPUs, or measured here with a short matmul benchmark;
there is no silent default.
"""

from __future__ import annotations

import contextlib
import functools
import re
import time

import torch

# Dense (non-sparse) peak FLOP/s from the vendors' data sheets: (fp32, bf16/fp16 tensor cores).
# Matched against torch.cuda.get_device_name(); the first pattern that matches wins.
KNOWN_GPUS: list[tuple[str, str, float, float]] = [
    (r"H200", "NVIDIA H200", 67e12, 989e12),
    (r"H100.*PCIe", "NVIDIA H100 PCIe", 51e12, 756e12),
    (r"H100", "NVIDIA H100 SXM", 67e12, 989e12),
    (r"A100", "NVIDIA A100", 19.5e12, 312e12),
    (r"\bL4\b", "NVIDIA L4", 30.3e12, 121e12),
    (r"RTX 4090", "NVIDIA RTX 4090", 82.6e12, 165e12),
    (r"V100", "NVIDIA V100", 15.7e12, 125e12),
    (r"\bT4\b", "NVIDIA T4", 8.1e12, 65e12),
]

TORCH_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def pick_device(name: str = "auto") -> torch.device:
    """"auto" picks cuda, then mps, then cpu; an explicit name must be available."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"unknown device {name!r}; choose auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but CUDA is not available (use --device cpu)")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device 'mps' requested but MPS is not available (use --device cpu)")
    if device.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"unsupported device {name!r}; choose auto, cpu, cuda, cuda:N or mps")
    return device


def check_dtype(device: torch.device, dtype: str) -> None:
    """fp16 needs CUDA (for its GradScaler); bf16 needs a GPU that has it, or any CPU (fast on
    CPUs with AVX-512 BF16 or AMX, emulated and slow on others)."""
    if dtype not in TORCH_DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; choose one of {', '.join(TORCH_DTYPES)}")
    if dtype == "fp16" and device.type != "cuda":
        raise ValueError(f"dtype fp16 needs a CUDA device (got {device.type}); use bf16 or fp32")
    if dtype == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ValueError("this GPU does not support bf16; use fp16 or fp32")


def autocast(device: torch.device, dtype: str) -> contextlib.AbstractContextManager:
    """The mixed-precision context for forward passes: matmuls in bf16/fp16, reductions
    (softmax, LayerNorm, the loss) in fp32. fp32 is a no-op context."""
    check_dtype(device, dtype)
    if dtype == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=TORCH_DTYPES[dtype])


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX-512 BF16 or AMX); Linux only, else False."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = f.read()
    except OSError:
        return False
    return bool(re.search(r"\b(avx512_bf16|amx_bf16)\b", flags))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def measure_matmul_flops(device: torch.device, dtype: str = "fp32", n: int = 1024,
                         seconds: float = 0.3) -> float:
    """FLOP/s of an n×n matmul on this device, timed for about `seconds` (2·n³ FLOPs each)."""
    torch_dtype = TORCH_DTYPES[dtype]
    # a private generator: drawing from the global one would change the dropout masks of a
    # resumed run (it measures at its start, the uninterrupted run did not)
    generator = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(n, n, device=device, generator=generator).to(torch_dtype)
    b = torch.randn(n, n, device=device, generator=generator).to(torch_dtype)
    a @ b  # warm-up (kernel selection, thread pool start)
    _sync(device)
    count, start = 0, time.perf_counter()
    while True:
        a @ b
        count += 1
        if count % 4 == 0:
            _sync(device)
            elapsed = time.perf_counter() - start
            if elapsed >= seconds:
                return 2 * n**3 * count / elapsed


def known_gpu_peak(gpu_name: str, dtype: str = "fp32") -> tuple[float, str] | None:
    """The data-sheet peak for a GPU name, or None when the GPU is not in KNOWN_GPUS.

    >>> known_gpu_peak("NVIDIA H100 80GB HBM3", "bf16")
    (989000000000000.0, 'NVIDIA H100 SXM data sheet, bf16')
    """
    for pattern, label, fp32, half in KNOWN_GPUS:
        if re.search(pattern, gpu_name):
            return (fp32 if dtype == "fp32" else half), f"{label} data sheet, {dtype}"
    return None


@functools.lru_cache(maxsize=None)
def peak_flops(device: torch.device, dtype: str = "fp32") -> tuple[float, str]:
    """(peak FLOP/s, where the figure comes from): a known GPU's data sheet, else measured
    (once per process and device)."""
    if device.type == "cuda":
        known = known_gpu_peak(torch.cuda.get_device_name(device), dtype)
        if known is not None:
            return known
    flops = measure_matmul_flops(device, dtype)
    return flops, f"measured {dtype} matmul on {device.type}"


def flops_per_token(n_params: int, n_layers: int, n_heads: int, d_head: int, seq_len: int) -> int:
    """Training FLOPs per token: 6·N for the weights + 12·L·H·D·T for the attention scores."""
    return 6 * n_params + 12 * n_layers * n_heads * d_head * seq_len


def mfu(tokens_per_s: float, flops_per_token_: float, peak: float) -> float:
    """Fraction of the peak FLOP/s the training run uses."""
    return tokens_per_s * flops_per_token_ / peak
