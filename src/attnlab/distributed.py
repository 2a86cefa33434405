"""The few helpers DDP (DistributedDataParallel) training needs; everything else is the
ordinary training loop.

`torchrun --nproc_per_node=2 -m attnlab train ...` starts two processes and tells each its
RANK, LOCAL_RANK and WORLD_SIZE through environment variables. Each process keeps a full copy
of the model, trains on its own rows of every batch (data strided by rank), and DDP averages
the gradients across processes during backward, so every copy takes the same step. Only
rank 0 writes files or prints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    local_rank: int = 0  # the process's index on this machine: picks its GPU
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        """Rank 0 writes checkpoints and metrics, and reports progress."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def setup(device_type: str) -> DistInfo:
    """Join the process group torchrun describes (gloo on CPU, nccl on CUDA); a plain
    `python -m attnlab train` (no WORLD_SIZE) is a single process and needs nothing."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return DistInfo()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if device_type == "cuda":
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    return DistInfo(rank=rank, local_rank=local_rank, world_size=world_size)


def all_reduce_mean(value: torch.Tensor) -> torch.Tensor:
    """The mean of `value` over all processes (itself when not distributed)."""
    if not (dist.is_available() and dist.is_initialized()):
        return value
    value = value.clone()
    dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value / dist.get_world_size()


def any_rank(flag: bool, device: torch.device) -> bool:
    """True on every process when it is True on at least one (e.g. "Ctrl-C was pressed")."""
    if not (dist.is_available() and dist.is_initialized()):
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def cleanup(together: bool = True) -> None:
    """Leave the process group. `together`: first wait for every rank (a barrier), which ranks
    that finished must do: one that tore down its gloo connections while another still used
    them was aborted by gloo ("terminate called without an active exception") about half the
    time on a busy machine. A rank that failed leaves at once (torchrun stops the others)."""
    if dist.is_available() and dist.is_initialized():
        if together:
            dist.barrier()
        dist.destroy_process_group()
