"""A time limit on receiving a request: a client that opens a connection and sends half a
request (or nothing, or a body that never ends) is cut off after a few seconds (server.REQUEST_TIMEOUT).

uvicorn's own `timeout_keep_alive` closes only idle connections between two requests, and its
timer stops at the first byte of the next one, so a half-sent request would keep its socket
(and uvicorn's memory for it) forever. This protocol is uvicorn's h11 one with one more timer:
armed when the connection opens and at the first bytes of each request, stopped once h11 has
the whole request (headers and body); when it fires first, the connection is closed. The app
never sees the half request; a body cut off this way ends the app's read with a 408.
"""

from __future__ import annotations

import asyncio

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

def request_timeout_protocol(seconds: float) -> type[H11Protocol]:
    """uvicorn's h11 protocol class that closes a connection whose request takes over `seconds` to arrive."""

    class RequestTimeout(H11Protocol):
        _request_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._watch()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            self._watch()

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop()
            super().connection_lost(exc)

        def _watch(self) -> None:
            receiving = self.conn.their_state in (h11.IDLE, h11.SEND_BODY) and not self.transport.is_closing()
            if not receiving:
                self._stop()
            elif self._request_timer is None:  # armed once per request: trickling bytes does not reset it
                self._request_timer = self.loop.call_later(seconds, self._too_slow)

        def _stop(self) -> None:
            if self._request_timer is not None:
                self._request_timer.cancel()
                self._request_timer = None

        def _too_slow(self) -> None:
            self._request_timer = None
            if self.conn.their_state in (h11.IDLE, h11.SEND_BODY) and not self.transport.is_closing():
                self.transport.close()  # the app, if it was reading the body, sees a disconnect

    return RequestTimeout
