"""How many requests the lab works on at once: beyond the limit, a 503 at once, never a wait.

Model work runs in Starlette's thread pool (40 threads). Without a limit, 40 slow requests for
one model would take every thread and every other request would queue behind them, whatever
model it asks for. Two counters keep that from happening:

    MAX_IN_FLIGHT  requests of any kind being answered (waiting for a lock included), and
    MAX_PER_MODEL  requests holding or waiting for one model's lock (one works, the rest wait).

Both are below the pool's 40 threads, so a request for another model always finds a thread and
its own lock free. A request over either limit gets a 503 with {"error", "code": "busy"} and
a Retry-After header; it is never queued.

>>> gate = Gate(limit=2, what="requests")
>>> gate.acquire(); gate.acquire()
>>> try:
...     gate.acquire()
... except Busy as exc:
...     print(exc)
the lab is busy: 2 requests already in flight (the limit); try again in a moment
>>> gate.release(); gate.count
1
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

MAX_IN_FLIGHT = 32
MAX_PER_MODEL = 20


class Busy(Exception):
    """Over a limit of requests in flight: the app answers it with a 503."""


class Gate:
    """A counter with a limit: `enter()` counts a request in for the `with` block or raises Busy."""

    def __init__(self, limit: int, what: str) -> None:
        self.limit, self.what = limit, what
        self._count = 0
        self._lock = threading.Lock()

    @property
    def count(self) -> int:
        return self._count

    def acquire(self) -> None:
        """Count one more in, or raise Busy when `limit` are in already."""
        with self._lock:
            if self._count >= self.limit:
                raise Busy(f"the lab is busy: {self.limit} {self.what} already in flight (the limit); "
                           f"try again in a moment")
            self._count += 1

    def release(self) -> None:
        with self._lock:
            self._count -= 1

    @contextmanager
    def enter(self) -> Iterator[None]:
        self.acquire()
        try:
            yield
        finally:
            self.release()
