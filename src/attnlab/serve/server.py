"""Listening: a bound socket, the server in the foreground (the CLI) or in a thread.

    with Background(ModelStore("runs")) as lab:     # a notebook, a test, a benchmark
        print(lab.url)                                # http://127.0.0.1:<a free port>/

The socket is bound before uvicorn starts, so a port in use is one clear error (uvicorn itself
would exit the process) and port 0 picks a free port whose number is known at once.
"""

from __future__ import annotations

import socket
import threading

from attnlab.serve.app import make_app
from attnlab.serve.store import ModelStore
from attnlab.errors import UserError

REQUEST_TIMEOUT = 10.0  # seconds for a request (headers and body) to arrive; see timeouts.py


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port; OSError (port in use, no such address) as UserError."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UserError(f"cannot listen on {host}: {exc.strerror}") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/"


def make_server(store: ModelStore, sock: socket.socket, loopback: bool = True,
                request_timeout: float = REQUEST_TIMEOUT):
    """A uvicorn server for the lab over `store`, to run on `sock` (quiet: warnings only); a
    request that takes over `request_timeout` seconds to arrive has its connection closed."""
    import uvicorn

    from attnlab.serve.timeouts import request_timeout_protocol

    config = uvicorn.Config(make_app(store, loopback=loopback), log_level="warning", lifespan="off",
                            http=request_timeout_protocol(request_timeout))
    return uvicorn.Server(config)


class Background:
    """The lab served from a thread on 127.0.0.1 (port 0: a free one) while the context is open."""

    def __init__(self, store: ModelStore, host: str = "127.0.0.1", port: int = 0,
                 request_timeout: float = REQUEST_TIMEOUT) -> None:
        self.sock = bind(host, port)
        self.url = url_of(self.sock)
        self.server = make_server(store, self.sock, request_timeout=request_timeout)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> "Background":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()
