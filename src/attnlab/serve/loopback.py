"""Which host names mean "this machine only": `attnlab serve` warns when --host is not one, and
the app answers only requests whose Host header is one (see app.LoopbackOnly).

    >>> is_loopback("127.0.0.1"), is_loopback("[::1]"), is_loopback(host_name("[::1]:8000"))
    (True, False, True)
"""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine only: localhost or a loopback address (127.0.0.1, ::1, ...)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_name(header: str) -> str:
    """The host a Host header names: '[::1]:8000' -> '::1', 'localhost:8000' -> 'localhost'."""
    if header.startswith("["):
        inside, closed, _ = header[1:].partition("]")
        return inside if closed else ""
    return header.partition(":")[0]
