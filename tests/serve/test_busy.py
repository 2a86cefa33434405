"""serve/busy.py: a gate counts requests in up to its limit and refuses the next at once, never
waiting; a request that fails still leaves."""

from __future__ import annotations

import doctest
import threading

import pytest

import attnlab.serve.busy
from attnlab.serve.busy import MAX_IN_FLIGHT, MAX_PER_MODEL, Busy, Gate


def test_the_worked_example_in_the_docstring():
    assert doctest.testmod(attnlab.serve.busy).failed == 0


def test_both_limits_leave_threads_of_starlettes_pool_for_other_models():
    assert MAX_PER_MODEL < MAX_IN_FLIGHT < 40  # Starlette's thread pool: 40 threads


def test_a_request_that_fails_inside_still_leaves():
    gate = Gate(limit=1, what="requests")
    with pytest.raises(ValueError):
        with gate.enter():
            assert gate.count == 1
            raise ValueError("the handler failed")
    assert gate.count == 0
    with gate.enter():  # the place is free again
        with pytest.raises(Busy, match="1 requests already in flight"):
            gate.acquire()
    assert gate.count == 0


def test_many_threads_never_count_past_the_limit():
    gate, admitted, refused = Gate(limit=5, what="requests"), [], []
    inside, release = threading.Barrier(6), threading.Event()

    def request() -> None:
        try:
            with gate.enter():
                admitted.append(gate.count)
                inside.wait(timeout=30)  # the five admitted wait for each other, and for the test
                release.wait(timeout=30)
        except Busy:
            refused.append(1)

    threads = [threading.Thread(target=request) for _ in range(5)]
    for t in threads:
        t.start()
    inside.wait(timeout=30)  # all five are in
    late = [threading.Thread(target=request) for _ in range(7)]
    for t in late:
        t.start()
    for t in late:
        t.join(timeout=30)
    assert (len(refused), gate.count) == (7, 5)
    release.set()
    for t in threads:
        t.join(timeout=30)
    assert gate.count == 0 and len(admitted) == 5 and max(admitted) <= 5
