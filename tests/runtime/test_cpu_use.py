"""The CPU use of other processes during start-up, which picks `attnlab train`'s threads."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from attnlab.runtime.cpu_use import CpuSample, busy_seconds, others_busy, sample
from attnlab.device import pick_threads


def test_busy_time_counts_everything_but_idle_and_iowait():
    ticks = {"user": 300, "nice": 20, "system": 80, "idle": 5000, "iowait": 70, "irq": 5, "softirq": 15, "steal": 80}
    line = "cpu  " + " ".join(str(v) for v in ticks.values()) + " 0 0\ncpu0 1 1 1 1"
    busy = sum(v for k, v in ticks.items() if k not in ("idle", "iowait"))
    from attnlab.runtime.cpu_use import TICKS_PER_S

    assert busy_seconds(line) == pytest.approx(busy / TICKS_PER_S)


def test_others_are_all_busy_time_less_this_process():
    start = CpuSample(wall=10.0, busy=100.0, own=1.0)
    # 2 s: the machine was busy 3.0 CPU-seconds, 2.0 of them this process's: others kept 0.5 CPU
    assert others_busy(start, CpuSample(wall=12.0, busy=103.0, own=3.0)) == pytest.approx(0.5)
    assert others_busy(start, CpuSample(wall=12.0, busy=101.0, own=3.0)) == 0.0  # tick rounding: never < 0
    assert others_busy(start, CpuSample(wall=10.1, busy=100.2, own=1.1)) is None  # too short to tell
    assert others_busy(CpuSample(10.0, None, 1.0), CpuSample(12.0, None, 3.0)) is None  # no /proc/stat


def test_the_threads_follow_what_others_use_not_the_load_average():
    assert pick_threads(0, load=1.6, cpus=2, default=2, others=0.1)[0] == 2  # a lagging load average
    assert pick_threads(0, load=0.0, cpus=2, default=2, others=1.0)[0] == 1  # one job on one CPU
    assert pick_threads(0, load=0.0, cpus=2, default=2, others=1.9)[0] == 1  # never 0
    assert "kept 1.0 of 2 CPUs busy" in pick_threads(0, cpus=2, default=2, others=1.0)[1]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/stat is Linux's")
def test_a_busy_process_beside_this_one_is_seen():
    start = sample()
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(1.5)
        seen = others_busy(start)
    finally:
        hog.kill()
        hog.wait()
    assert seen is not None and seen >= 0.5  # the hog had most of a CPU (other jobs can only add)
