"""The runtime decision: where a command computes, in what precision, on how many CPU threads.

Every command that computes, the web lab and `attnlab.train_run` call `decide` once and use what it
returns; nothing else picks a device, resolves "auto" or sets torch's threads.

    >>> rt = decide("cpu", "fp32", threads=0, others=1.8, cpus=2, default=2)
    >>> rt.device, rt.dtype, rt.threads
    (device(type='cpu'), 'fp32', 1)
    >>> rt.lines[1]
    'threads: 1 thread (other processes kept 1.8 of 2 CPUs busy as this one started; --threads N overrides)'

- **Threads**: `--threads N` as given; 0 (every command's default) is the CPUs other processes
  leave idle (`attnlab.device.pick_threads`, fed by `attnlab.runtime.cpu_use`: what the other
  processes ran while this one started), at least 1 and at most torch's own choice. On a 2-core
  machine with two other jobs, two threads made `attnlab generate` 4x slower than one: torch's
  threads wait for each other at every operation while the other jobs hold the cores.
- **Precision**: `--dtype fp32|bf16|fp16` as given (checked against the device); "auto" for
  training is `attnlab.device.resolve_dtype` (bf16 on a GPU that has it and on a CPU that computes
  bf16 natively, AVX-512 BF16 or AMX; else fp32). A forward pass whose numbers are read (attention
  weights, the lens, a sample, a lab's measurements) stays in fp32 under "auto": its figures should
  not depend on the machine. bf16 on a CPU that only emulates it runs, after one warning line.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from attnlab.device import autocast, bf16_warning, check_dtype, describe_dtype, pick_device, pick_threads, resolve_dtype
from attnlab.errors import UserError


@dataclass(frozen=True)
class Runtime:
    """What `decide` chose, and the lines that say why (a command prints them, the library logs them)."""

    device: torch.device
    dtype: str  # fp32, bf16 or fp16: "auto" is resolved
    threads: int  # torch's intra-op threads
    lines: tuple[str, ...]  # ("precision: ...", "threads: ...")
    warnings: tuple[str, ...] = ()  # one line each, e.g. bf16 emulated on this CPU

    def apply(self) -> Runtime:
        """Give torch the chosen threads (process-wide, as torch.set_num_threads is)."""
        torch.set_num_threads(self.threads)
        return self

    def autocast(self) -> contextlib.AbstractContextManager:
        """The mixed-precision context of a forward pass (a no-op in fp32)."""
        return autocast(self.device, self.dtype)


def decide(device: str = "auto", dtype: str = "auto", threads: int = 0, *, training: bool = True,
           others: float | None = None, most: int | None = None, dtype_from: str | None = None,
           cpus: int | None = None, default: int | None = None, flags: list[str] | None = None) -> Runtime:
    """The runtime for `device` (auto, cpu, cuda, cuda:N, mps), `dtype` (auto, fp32, bf16, fp16) and
    `threads` (0: decided here). `training`: "auto" may pick bf16 (else fp32, see the module
    docstring). `others`: the CPUs other processes kept busy as the command started
    (`cpu_use.others_busy`; None: the load average stands in). `most`: a cap on decided threads
    for work too small to share (never on --threads N). `dtype_from`: where an explicit dtype came
    from ("the run's" on a resume), for the precision line. `cpus`, `default` (torch's own thread
    count) and `flags` (the CPU's) replace what this machine says, for tests.
    Bad values are a one-line `UserError`, before anything is computed."""
    where = pick_device(device)
    chosen, precision = _precision(where, dtype, training, dtype_from, flags)
    count, reason = _threads(threads, others, most, cpus, default)
    warning = bf16_warning(where, chosen, flags)
    return Runtime(where, chosen, count, (f"precision: {precision}", f"threads: {reason}"),
                   (warning,) if warning else ())


def _precision(device: torch.device, dtype: str, training: bool, dtype_from: str | None,
               flags: list[str] | None) -> tuple[str, str]:
    """(the dtype, the words of the precision line)."""
    check_dtype(device, dtype)
    if dtype == "auto" and not training:
        return "fp32", "fp32 (auto: a forward pass whose numbers are read runs in fp32; --dtype bf16 to change)"
    chosen = resolve_dtype(device, dtype, flags)
    if dtype != "auto" and dtype_from:
        return chosen, f"{chosen} ({dtype_from})"
    return chosen, describe_dtype(device, dtype, chosen, flags)


def _threads(threads: int, others: float | None, most: int | None, cpus: int | None,
             default: int | None) -> tuple[int, str]:
    """(torch threads, the words of the threads line)."""
    if not isinstance(threads, int) or threads < 0:
        raise UserError(f"--threads must be >= 0, got {threads}")
    count, why = pick_threads(threads, others=others, cpus=cpus, default=default)
    if threads == 0 and most is not None and count > most:
        count, why = most, f"{why}; at most {most} for a model this small"
    return count, f"{count} thread{'s' if count != 1 else ''} ({why}; --threads N overrides)"
