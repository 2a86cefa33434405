"""serve/timeouts.py: the timer runs from a request's first byte until the whole request is in, so
bytes that trickle in do not keep a connection open, and a slow answer is never cut (a half-sent
request of each kind: test_serve_limits.py)."""

from __future__ import annotations

import socket
import time

import pytest

pytest.importorskip("starlette", reason="attnlab serve needs starlette: pip install -e '.[serve]'")
pytest.importorskip("uvicorn", reason="attnlab serve needs uvicorn: pip install -e '.[serve]'")

from attnlab.serve.server import Background  # noqa: E402
from attnlab.serve.store import ModelStore  # noqa: E402

REQUEST = b"GET /api/models HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def test_trickling_bytes_do_not_reset_the_timer(tmp_path):
    """A request sent a byte every 50 ms would take 2.4 s; the timer (0.2 s) is not re-armed by
    each byte, so the server closes the connection before the request is whole."""
    with Background(ModelStore(tmp_path, minilm=False), request_timeout=0.2) as lab:
        host, port = lab.sock.getsockname()[:2]
        with socket.create_connection((host, port), timeout=10) as sock:
            sent = 0
            try:
                for byte in REQUEST:
                    sock.sendall(bytes([byte]))
                    sent += 1
                    time.sleep(0.05)
                answer = sock.recv(4096)
            except (BrokenPipeError, ConnectionResetError):
                answer = b""
            assert not answer.startswith(b"HTTP/1.1 200"), (sent, answer)


def test_an_answer_that_takes_longer_than_the_timeout_is_not_cut(tmp_path, monkeypatch):
    def slow_listing(self):
        time.sleep(0.6)
        return []

    monkeypatch.setattr(ModelStore, "listing", slow_listing)
    with Background(ModelStore(tmp_path, minilm=False), request_timeout=0.2) as lab:
        host, port = lab.sock.getsockname()[:2]
        with socket.create_connection((host, port), timeout=10) as sock:
            sock.sendall(REQUEST)  # whole at once: the timer stops, the app takes its time
            assert sock.recv(12) == b"HTTP/1.1 200"
