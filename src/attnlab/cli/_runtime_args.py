"""--threads, --dtype and --device: every command that computes takes them, and `use_runtime` turns
them into the one runtime decision (`attnlab.runtime.decision.decide`).

    add_runtime_args(p)                    # in add_parser: the flags (device=True where it makes sense)
    rt = use_runtime(args)                 # in run, before the work: decided, threads set, autocast on

`attnlab.cli.main` samples what other processes run as it starts, before torch's import
(`attnlab.runtime.cpu_use`), and keeps the sample and a scope in `args`: the threads come from the
CPUs the others left idle, and whatever `use_runtime` changes (torch's threads, the autocast of a
forward pass) is put back when the command returns. Nothing here imports torch at import time.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from attnlab.runtime.decision import Runtime

DTYPES = ("auto", "fp32", "bf16", "fp16")


def add_runtime_args(p: argparse.ArgumentParser, *, device: bool = False, dtype: bool = True,
                     threads: bool = True, small: bool = False) -> None:
    """The runtime flags on a command's parser. `small`: the command's models are tiny, measured
    fastest on one thread, so a decided thread count stops at 1 (--threads N still overrides)."""
    group = p.add_argument_group("runtime (decided by the machine unless given)")
    if threads:
        group.add_argument("--threads", type=int, default=0,
                           help="CPU threads for torch (default: 0, decided at start: the CPUs other processes "
                                "leave idle, at least 1" + (", at most 1 for models this small" if small else "")
                                + "; on a busy machine one thread is many times faster than two)")
    if dtype:
        group.add_argument("--dtype", default="auto", metavar="{" + ",".join(DTYPES) + "}",
                           help="precision of the computation: fp32, bf16 (autocast), fp16 (CUDA only) or auto "
                                "(default: auto, fp32 for what you read; training takes bf16 where the device "
                                "computes it natively)")
    if device:
        group.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default: auto)")
    p.set_defaults(runtime_most=1 if small else None)


def use_runtime(args: argparse.Namespace, *, device: str | None = None, dtype: str | None = None,
                threads: int | None = None, training: bool = False, dtype_from: str | None = None) -> Runtime:
    """Decide the runtime from the flags (or the values given here: a config's device and dtype),
    give torch its threads and, unless `training` (the command passes the dtype to its own loop),
    run the rest of the command under the dtype's autocast. Warnings go to stderr, one line each.
    A second call returns the first decision."""
    if getattr(args, "runtime", None) is not None:
        return args.runtime
    import torch

    from attnlab.runtime.cpu_use import others_busy
    from attnlab.runtime.decision import decide

    started = getattr(args, "cpu_start", None)
    rt = decide(device if device is not None else getattr(args, "device", "cpu"),
                dtype if dtype is not None else getattr(args, "dtype", "auto"),
                threads if threads is not None else getattr(args, "threads", 0),
                training=training, others=others_busy(started) if started is not None else None,
                most=getattr(args, "runtime_most", None), dtype_from=dtype_from)
    scope = getattr(args, "runtime_scope", None)
    if scope is not None:  # the command's end puts torch's threads back (in-process callers share torch)
        scope.callback(torch.set_num_threads, torch.get_num_threads())
        if not training:
            scope.enter_context(rt.autocast())
    rt.apply()
    for warning in rt.warnings:
        print(f"attnlab: warning: {warning}", file=sys.stderr)
    args.runtime = rt
    return rt
