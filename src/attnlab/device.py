"""Where training runs and how fast it could go: device choice, mixed precision, peak FLOPs, MFU.

MFU (model FLOPs utilisation) = the FLOPs the model needs per second / the device's peak.
A GPT needs about 6·N FLOPs per token to train (2·N forward, 4·N backward, N = parameters)
plus the attention scores, 12·L·H·D·T per token (PaLM, appendix B; nanoGPT's estimate).
The peak is taken from a table of known GPUs, or measured here: the best of several runs of a
large matmul at the run's thread count and dtype, cached per machine in
`~/.cache/attnlab/peak.json` (or `$ATTNLAB_CACHE_DIR/peak.json`) so that a start on a busy
machine cannot lower it. The cached figure is only ever raised: by a faster measurement, or by a
training step that beats it, so MFU never exceeds 100%. There is no silent default.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import time
from pathlib import Path
from typing import Callable

import torch
from filelock import FileLock
from attnlab.errors import UserError

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
        raise UserError(f"unknown device {name!r}; choose auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError("device 'cuda' requested but CUDA is not available (use --device cpu)")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise UserError("device 'mps' requested but MPS is not available (use --device cpu)")
    if device.type not in ("cpu", "cuda", "mps"):
        raise UserError(f"unsupported device {name!r}; choose auto, cpu, cuda, cuda:N or mps")
    return device


def check_dtype(device: torch.device, dtype: str) -> None:
    """fp16 needs CUDA (for its GradScaler); bf16 needs a GPU that has it, or any CPU (fast on
    CPUs with AVX-512 BF16 or AMX, emulated and slow on others: see `bf16_warning`). "auto"
    is always allowed (`resolve_dtype` picks what suits the device)."""
    if dtype != "auto" and dtype not in TORCH_DTYPES:
        raise UserError(f"unknown dtype {dtype!r}; choose auto or one of {', '.join(TORCH_DTYPES)}")
    if dtype == "fp16" and device.type != "cuda":
        raise UserError(f"dtype fp16 needs a CUDA device (got {device.type}); use bf16 or fp32")
    if dtype == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise UserError("this GPU does not support bf16; use fp16 or fp32")


def autocast(device: torch.device, dtype: str) -> contextlib.AbstractContextManager:
    """The mixed-precision context for forward passes: matmuls in bf16/fp16, reductions
    (softmax, LayerNorm, the loss) in fp32. fp32 is a no-op context; "auto" is `resolve_dtype`'s."""
    check_dtype(device, dtype)
    dtype = resolve_dtype(device, dtype)
    if dtype == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=TORCH_DTYPES[dtype])


# CPU flags (Linux /proc/cpuinfo names) of native bf16 arithmetic: AVX-512 BF16, AMX.
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
# Whether `--dtype auto` takes bf16 on a CPU that computes it natively. Measured on an AMD EPYC
# with avx512_bf16 (2 cores, shared, load 12-14; benchmarks/train_throughput.py and
# benchmarks/README.md): the `cpu` preset's step under bf16 autocast took 0.69x the fp32 time on
# 1 thread and 0.80x on 2, so auto takes bf16 there. Without native bf16 (AVX2 only) bf16 is
# emulated, 15x slower per matmul (benchmarks/README.md), and auto keeps fp32.
AUTO_BF16_ON_NATIVE_CPU = True


def cpu_flags(cpuinfo: str | None = None) -> list[str]:
    r"""The CPU's feature flags: the `flags` line of /proc/cpuinfo (or of `cpuinfo`, the text of
    such a file); [] where there is none (macOS, Windows).

    >>> cpu_flags("processor : 0\nflags : fpu avx2 avx512_bf16\n")
    ['fpu', 'avx2', 'avx512_bf16']
    """
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo", encoding="utf-8") as f:
                cpuinfo = f.read()
        except OSError:
            return []
    match = re.search(r"^flags\s*:(.*)$", cpuinfo, re.MULTILINE)
    return match.group(1).split() if match else []


def native_bf16(flags: list[str] | None = None) -> bool:
    """Whether a CPU with these flags (default: this one's, `cpu_flags()`) computes bf16 natively.

    >>> native_bf16(["avx2", "fma"]), native_bf16(["avx512f", "avx512_bf16"]), native_bf16(["amx_bf16"])
    (False, True, True)
    """
    flags = cpu_flags() if flags is None else flags
    return any(flag in flags for flag in NATIVE_BF16_FLAGS)


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX-512 BF16 or AMX); Linux only, else False."""
    return native_bf16()


def resolve_dtype(device: torch.device, dtype: str, flags: list[str] | None = None) -> str:
    """The precision a run trains in: `dtype` itself, or for "auto" bf16 on a CUDA GPU that
    supports it, fp32 on MPS, and on a CPU bf16 only where it is native (`flags`, default this
    CPU's) and AUTO_BF16_ON_NATIVE_CPU says it repays itself; else fp32.

    >>> resolve_dtype(torch.device("cpu"), "auto", flags=["avx2"]), resolve_dtype(torch.device("cpu"), "bf16")
    ('fp32', 'bf16')
    """
    if dtype != "auto":
        return dtype
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if device.type == "cpu" and AUTO_BF16_ON_NATIVE_CPU and native_bf16(flags):
        return "bf16"
    return "fp32"


def bf16_warning(device: torch.device, dtype: str, flags: list[str] | None = None) -> str | None:
    """One line for a bf16 run on a CPU without native bf16 (it trains, emulated and slow), else None."""
    if dtype != "bf16" or device.type != "cpu" or native_bf16(flags):
        return None
    return ("this CPU has no native bf16 (AVX-512 BF16 or AMX): bf16 is emulated here, several times slower "
            "than fp32; --dtype fp32 (or auto) is the fast choice")


def describe_dtype(device: torch.device, asked: str, dtype: str, flags: list[str] | None = None) -> str:
    """The precision line a run prints first: what it trains in and why.

    >>> describe_dtype(torch.device("cpu"), "auto", "fp32", flags=["avx2"])
    'fp32 (auto: this CPU has no native bf16)'
    """
    if asked != "auto":
        return f"{dtype} (--dtype {asked})"
    if device.type == "cpu":
        why = "this CPU has native bf16 (AVX-512 BF16 or AMX)" if native_bf16(flags) else "this CPU has no native bf16"
    elif device.type == "cuda":
        why = "this GPU supports bf16" if dtype == "bf16" else "this GPU has no bf16"
    else:
        why = f"{device.type}: fp32"
    return f"{dtype} (auto: {why})"


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask where the OS has one, else cpu_count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def pick_threads(requested: int = 0, load: float | None = None, cpus: int | None = None,
                 default: int | None = None, others: float | None = None) -> tuple[int, str]:
    """(torch threads, why) for a run. requested > 0 is `--threads N`, taken as it is. Otherwise the
    threads are the CPUs left idle, out of `cpus` (default: `usable_cpus()`), at least 1 and at most
    `default` (torch's own choice, one per physical core). Idle is `cpus - others` where `others`,
    the CPUs other processes kept busy while this one started, is known (`attnlab.runtime.cpu_use`),
    else `cpus - load`, the 1-minute load average (default os.getloadavg()). On a machine busy with
    other jobs, torch's threads wait for each other at every operation while the other jobs hold
    the cores: one thread there was measured many times faster than two (benchmarks/README.md).

    >>> pick_threads(0, load=0.2, cpus=2, default=2), pick_threads(0, load=5.0, cpus=2, default=2)
    ((2, 'the load average 0.2 leaves 2 of 2 CPUs idle'), (1, 'the load average 5.0 leaves 0 of 2 CPUs idle'))
    >>> pick_threads(0, load=1.3, cpus=2, default=2, others=0.1)
    (2, 'other processes kept 0.1 of 2 CPUs busy as this one started')
    >>> pick_threads(3, load=5.0, cpus=2)
    (3, '--threads 3')
    """
    if requested > 0:
        return requested, f"--threads {requested}"
    default = torch.get_num_threads() if default is None else default
    cpus = usable_cpus() if cpus is None else cpus
    if others is not None:
        busy, why = others, f"other processes kept {others:.1f} of {cpus} CPUs busy as this one started"
    else:
        if load is None:
            try:
                load = os.getloadavg()[0]
            except (AttributeError, OSError):  # Windows: no load average
                return default, "torch's default (no load average here)"
        busy, why = load, f"the load average {load:.1f} leaves {{idle}} of {cpus} CPUs idle"
    idle = max(0, int(cpus - busy + 0.5))  # a CPU more than half idle counts as idle
    return max(1, min(default, idle)), why.format(idle=idle)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def _matmul_operands(device: torch.device, dtype: str, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    # a private generator: drawing from the global one would change the dropout masks of a
    # resumed run (it measures at its start, the uninterrupted run did not)
    generator = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(n, n, device=device, generator=generator).to(TORCH_DTYPES[dtype])
    b = torch.randn(n, n, device=device, generator=generator).to(TORCH_DTYPES[dtype])
    return a, b


def measure_matmul_flops(device: torch.device, dtype: str = "fp32", n: int = 1024,
                         seconds: float = 0.3) -> float:
    """FLOP/s of an n×n matmul on this device, averaged over about `seconds` (2·n³ FLOPs each)."""
    a, b = _matmul_operands(device, dtype, n)
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


def probe_flops(device: torch.device, dtype: str = "fp32", n: int = 128, seconds: float = 0.005) -> float:
    """A quick FLOP/s estimate (a few milliseconds) of n×n matmuls in `dtype`: what sizes the peak
    measurement, so that a slow dtype (bf16 emulated on a CPU without AVX-512 BF16) gets a small matrix."""
    a, b = _matmul_operands(device, dtype, n)
    a @ b  # warm-up
    _sync(device)
    count, start = 0, time.perf_counter()
    while count == 0 or time.perf_counter() - start < seconds:
        a @ b
        _sync(device)
        count += 1
    return 2 * n**3 * count / (time.perf_counter() - start)


def probe_size(flops: float, budget_s: float = 0.5, repeats: int = 3, n_max: int = 2048, n_min: int = 64) -> int:
    """The matrix size for `best_matmul_flops` at a probed `flops` FLOP/s: the largest multiple of 64
    (between n_min and n_max) whose matmul takes at most budget_s / (repeats + 2) (the repeats, a
    warm-up and the probe share the budget).

    >>> probe_size(120e9), probe_size(8e9), probe_size(1e6)
    (1792, 704, 64)
    """
    per_run = budget_s / (repeats + 2)
    n = int((flops * per_run / 2) ** (1 / 3)) // 64 * 64
    return max(n_min, min(n_max, n))


def best_matmul_flops(device: torch.device, dtype: str = "fp32", n: int | None = None, repeats: int = 3,
                      min_seconds: float = 0.02, budget_s: float = 0.5,
                      probe: Callable[[torch.device, str], float] | None = None) -> tuple[float, int]:
    """(FLOP/s of the fastest of `repeats` runs of n×n matmuls, n). Each run repeats the matmul for at
    least `min_seconds`; on a shared machine the slow runs are the ones another job interrupted, so
    the best run is the closest to what the hardware can do. On a CPU a run counts the CPU time its
    threads got (process time / threads) where that is shorter than the wall time: time spent
    waiting while other jobs ran is not the hardware's.

    n=None sizes the matrix from `probe` (default `probe_flops`, a few milliseconds) so that the
    whole measurement fits in about `budget_s` on any device and dtype (`probe_size`); the runs
    also stop before one would end past budget_s (at least one run is always made)."""
    started = time.perf_counter()
    if n is None:
        flops = (probe or probe_flops)(device, dtype)
        n = probe_size(flops, budget_s, repeats, n_max=2048 if device.type == "cpu" else 8192)
    a, b = _matmul_operands(device, dtype, n)
    a @ b  # warm-up
    _sync(device)
    best = 0.0
    for _ in range(repeats):
        count, start, cpu_start = 0, time.perf_counter(), time.process_time()
        while count == 0 or time.perf_counter() - start < min_seconds:
            a @ b
            _sync(device)
            count += 1
        elapsed = time.perf_counter() - start
        cpu = (time.process_time() - cpu_start) / torch.get_num_threads()
        if device.type == "cpu" and cpu > 0:
            elapsed = min(elapsed, cpu)
        best = max(best, 2 * n**3 * count / elapsed)
        run_s = time.perf_counter() - start
        if time.perf_counter() - started + run_s > budget_s:  # another run would overrun the budget
            break
    return best, n


def known_gpu_peak(gpu_name: str, dtype: str = "fp32") -> tuple[float, str] | None:
    """The data-sheet peak for a GPU name, or None when the GPU is not in KNOWN_GPUS.

    >>> known_gpu_peak("NVIDIA H100 80GB HBM3", "bf16")
    (989000000000000.0, 'NVIDIA H100 SXM data sheet, bf16')
    """
    for pattern, label, fp32, half in KNOWN_GPUS:
        if re.search(pattern, gpu_name):
            return (fp32 if dtype == "fp32" else half), f"{label} data sheet, {dtype}"
    return None


def cache_dir() -> Path:
    """Where attnlab keeps per-machine figures: $ATTNLAB_CACHE_DIR, else $XDG_CACHE_HOME/attnlab,
    else ~/.cache/attnlab."""
    if os.environ.get("ATTNLAB_CACHE_DIR"):
        return Path(os.environ["ATTNLAB_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "attnlab"


def device_name(device: torch.device) -> str:
    """The processor a device runs on: the GPU's name, or the CPU's model name."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "cpu":
        try:
            with open("/proc/cpuinfo", encoding="utf-8") as f:
                match = re.search(r"^model name\s*:\s*(.+)$", f.read(), re.MULTILINE)
            if match:
                return match.group(1).strip()
        except OSError:
            pass
    return platform.processor() or platform.machine() or device.type


def peak_key(device: torch.device, dtype: str) -> str:
    """What a measured peak depends on: processor, threads (CPU), dtype and torch version."""
    threads = f", {_threads()}" if device.type == "cpu" else ""
    return f"{device.type}: {device_name(device)}{threads}, {dtype}, torch {torch.__version__}"


def _threads() -> str:
    n = torch.get_num_threads()
    return f"{n} thread{'s' if n != 1 else ''}"


RAISED = "raised to what this run reached"


class Peak:
    """A device's peak FLOP/s and where the figure comes from. A measured peak lives in a cache
    file, keyed by `peak_key`; `mfu` raises it (and the cache) when a run beats it."""

    def __init__(self, flops: float, source: str, cache: Path | None = None, key: str | None = None):
        self.flops, self.source, self.cache, self.key = flops, source, cache, key

    def mfu(self, flops: float) -> float:
        """Fraction of the peak that `flops` FLOP/s use; never above 1: a figure above the peak
        becomes the new peak (a measured one is also raised in the cache)."""
        if flops > self.flops:
            if not self.source.startswith(RAISED):
                self.source = f"{RAISED}; was {self.flops / 1e12:.3f} TFLOP/s, {self.source}"
            self.flops = flops
            if self.cache is not None:
                with contextlib.suppress(OSError):  # a read-only cache: the figure in hand still rises
                    _raise_cached(self.cache, self.key, flops)
        return flops / self.flops

    def __repr__(self) -> str:
        return f"Peak({self.flops:.3g} FLOP/s, {self.source!r})"


def _read_cache(path: Path) -> dict[str, float]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # no cache yet, or a damaged one: measure again
    return {k: float(v) for k, v in data.items() if isinstance(v, (int, float))} if isinstance(data, dict) else {}


def _raise_cached(path: Path, key: str, flops: float) -> float:
    """Store max(cached, flops) under key (under a lock, written atomically) -> the stored value."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        data = _read_cache(path)
        best = max(data.get(key, 0.0), flops)
        if best != data.get(key):
            data[key] = best
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
            os.replace(tmp, path)
    return best


def peak_flops(device: torch.device, dtype: str = "fp32", cache: Path | None = None, n: int | None = None,
               repeats: int | None = None, probe: Callable[[torch.device, str], float] | None = None) -> Peak:
    """The peak FLOP/s to compute MFU against: a known GPU's data sheet, else the best of `repeats`
    n×n matmuls (n: sized from a quick probe so the measurement takes about 0.5 s, see
    `best_matmul_flops`; repeats: 3, or none when a figure is cached: the start then measures
    nothing), never below the figure cached for this processor, thread count, dtype and torch
    version in `cache` (default: cache_dir()/peak.json)."""
    dtype = resolve_dtype(device, dtype)
    if device.type == "cuda":
        known = known_gpu_peak(torch.cuda.get_device_name(device), dtype)
        if known is not None:
            return Peak(*known)
    cache = cache_dir() / "peak.json" if cache is None else cache
    key = peak_key(device, dtype)
    cached = _read_cache(cache).get(key, 0.0)
    repeats = (0 if cached else 3) if repeats is None else repeats
    threads = f" on {_threads()}" if device.type == "cpu" else ""
    if repeats == 0:  # a figure from an earlier start: no matmuls now (a faster training step still raises it)
        return Peak(cached, f"cached in {cache} for {dtype}{threads}", cache, key)
    measured, n = best_matmul_flops(device, dtype, n, repeats, probe=probe)
    try:
        best = _raise_cached(cache, key, measured)
    except OSError:  # a read-only home: use the figures in hand
        best = max(measured, cached)
    if measured >= cached:
        source = f"best of {repeats} {dtype} {n}x{n} matmuls{threads}, cached in {cache}"
    else:
        source = (f"cached in {cache} for {dtype}{threads}; this start measured only "
                  f"{measured / 1e12:.3f} TFLOP/s (a busy machine)")
    return Peak(best, source, cache, key)


def flops_per_token(n_params: int, n_layers: int, n_heads: int, d_head: int, seq_len: int) -> int:
    """Training FLOPs per token: 6·N for the weights + 12·L·H·D·T for the attention scores."""
    return 6 * n_params + 12 * n_layers * n_heads * d_head * seq_len


def mfu(tokens_per_s: float, flops_per_token_: float, peak: float) -> float:
    """Fraction of the peak FLOP/s the training run uses."""
    return tokens_per_s * flops_per_token_ / peak
