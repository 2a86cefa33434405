"""attnlab.distributed: one process needs nothing; two gloo processes (forked here, as torchrun
would start them) average a tensor, agree on a flag one of them raised, and leave together."""

import multiprocessing
import socket

import pytest
import torch

from attnlab import distributed
from attnlab.distributed import DistInfo, all_reduce_mean, any_rank, cleanup, setup


def test_a_single_process_is_rank_0_of_1_and_every_helper_is_the_identity(monkeypatch):
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    info = setup("cpu")
    assert info == DistInfo(rank=0, local_rank=0, world_size=1) and info.is_main and not info.enabled
    value = torch.tensor([1.0, 3.0])
    assert all_reduce_mean(value) is value
    assert any_rank(True, torch.device("cpu")) is True and any_rank(False, torch.device("cpu")) is False
    cleanup()  # nothing to leave
    assert not DistInfo(rank=1, world_size=2).is_main and DistInfo(rank=1, world_size=2).enabled


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_rank(rank: int, port: int, results) -> None:
    import os

    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    info = setup("cpu")
    mean = all_reduce_mean(torch.tensor([float(rank), 10.0 * rank]))  # ranks 0 and 1: [0.5, 5.0]
    raised = any_rank(rank == 1, torch.device("cpu"))  # only rank 1 saw Ctrl-C
    calm = any_rank(False, torch.device("cpu"))
    cleanup()
    results.put((rank, info.rank, info.local_rank, info.world_size, info.is_main, mean.tolist(), raised, calm,
                 distributed.dist.is_initialized()))


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch built without distributed")
def test_two_gloo_processes_average_agree_and_leave_together():
    ctx = multiprocessing.get_context("fork")
    results, port = ctx.Queue(), free_port()
    procs = [ctx.Process(target=one_rank, args=(rank, port, results)) for rank in (0, 1)]
    for p in procs:
        p.start()
    got = sorted(results.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    assert got == [(0, 0, 0, 2, True, [0.5, 5.0], True, False, False),
                   (1, 1, 1, 2, False, [0.5, 5.0], True, False, False)]
