"""serve/server.py: the socket bound before the server starts (a port in use or an unknown host is
one UserError), the address printed, and a lab in a thread that answers while its context is
open and lets its port go after."""

from __future__ import annotations

import json
import socket

import pytest

pytest.importorskip("starlette", reason="attnlab serve needs starlette: pip install -e '.[serve]'")
pytest.importorskip("uvicorn", reason="attnlab serve needs uvicorn: pip install -e '.[serve]'")

from serve_helpers import Client  # noqa: E402

from attnlab.errors import UserError  # noqa: E402
from attnlab.serve.server import Background, bind, make_server, url_of  # noqa: E402
from attnlab.serve.store import ModelStore  # noqa: E402


def test_port_0_is_a_free_port_known_at_once_and_a_taken_one_is_one_error():
    sock = bind("127.0.0.1", 0)
    try:
        port = sock.getsockname()[1]
        assert port > 0 and url_of(sock) == f"http://127.0.0.1:{port}/"
        with pytest.raises(UserError, match=f"^cannot listen on 127.0.0.1:{port}: "):
            bind("127.0.0.1", port)
    finally:
        sock.close()


def test_an_unknown_host_is_one_error():
    with pytest.raises(UserError, match="^cannot listen on no.such.host.invalid: "):
        bind("no.such.host.invalid", 0)


def test_an_ipv6_address_is_written_in_brackets():
    if not socket.has_ipv6:
        pytest.skip("no IPv6 here")
    try:
        sock = bind("::1", 0)
    except UserError:
        pytest.skip("::1 is not configured here")
    with sock:
        assert url_of(sock) == f"http://[::1]:{sock.getsockname()[1]}/"


def test_the_server_cuts_slow_requests_after_its_timeout(tmp_path):
    sock = bind("127.0.0.1", 0)
    with sock:
        server = make_server(ModelStore(tmp_path, minilm=False), sock, request_timeout=2.5)
        assert server.config.http.__name__ == "RequestTimeout"  # timeouts.py's protocol, not uvicorn's own


def test_a_lab_in_a_thread_answers_then_lets_its_port_go(tmp_path):
    with Background(ModelStore(tmp_path, minilm=False)) as lab:
        client = Client(lab.url)
        status, _, raw = client.request("GET", "/api/models")
        assert status == 200 and json.loads(raw)["models"] == []
    assert not lab.thread.is_alive()
    with pytest.raises(OSError):
        socket.create_connection((client.host, client.port), timeout=5).close()
