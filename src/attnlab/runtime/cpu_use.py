"""How busy the CPUs are right now: what other processes ran while attnlab started.

The load average is a minute's memory: a run started right after another one sees that run's
load and would take one thread on a machine that is idle. Instead, `sample()` is taken as a
command starts, before torch is imported (about 2 to 4 s on a 2-core EPYC), and again when the
threads are chosen; between the two, every CPU's busy time (/proc/stat) minus this process's own
CPU time is what the other processes used. Linux only; elsewhere `others_busy` gives None and the
caller falls back to the load average.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

PROC_STAT = "/proc/stat"
TICKS_PER_S = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
MIN_WINDOW_S = 0.5  # shorter, and a 10 ms tick is too coarse to tell


@dataclass(frozen=True)
class CpuSample:
    wall: float  # time.monotonic()
    busy: float | None  # CPU seconds every process used since boot (None: no /proc/stat)
    own: float  # this process's CPU seconds, all threads


def busy_seconds(stat: str) -> float:
    """The CPU seconds /proc/stat's first line counts as busy: everything but idle and iowait
    (steal included: the hypervisor gave that time to another machine).

    >>> busy_seconds("cpu  100 0 50 900 10 0 0 25 0 0\\ncpu0 1 2 3")  # user nice system idle iowait irq softirq steal
    1.75
    """
    fields = [int(v) for v in stat.split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields + [0] * (8 - len(fields))
    return (user + nice + system + irq + softirq + steal) / TICKS_PER_S


def sample() -> CpuSample:
    try:
        with open(PROC_STAT, encoding="ascii") as f:
            busy = busy_seconds(f.read(4096))
    except (OSError, ValueError):
        busy = None
    return CpuSample(time.monotonic(), busy, time.process_time())


def others_busy(since: CpuSample, now: CpuSample | None = None) -> float | None:
    """The CPUs other processes kept busy, on average, from `since` to `now` (default: a sample
    taken now); None where /proc/stat is missing or the window is too short to tell."""
    now = sample() if now is None else now
    window = now.wall - since.wall
    if since.busy is None or now.busy is None or window < MIN_WINDOW_S:
        return None
    return max(0.0, (now.busy - since.busy) - (now.own - since.own)) / window
