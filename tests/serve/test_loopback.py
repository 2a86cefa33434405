"""serve/loopback.py: which host names are this machine."""

from attnlab.serve.loopback import is_loopback


def test_is_loopback():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost") and is_loopback("127.0.0.2")
    assert is_loopback("LOCALHOST") and not is_loopback("localhost.example") and not is_loopback("")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5") and not is_loopback("example.com")
