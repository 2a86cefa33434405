"""`attnlab serve` (cli/serve.py) as a command: the address it prints, the warning off loopback, one-line errors."""

from __future__ import annotations

import ast
import socket
import sys
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="attnlab serve needs starlette: pip install -e '.[serve]'")
pytest.importorskip("uvicorn", reason="attnlab serve needs uvicorn: pip install -e '.[serve]'")

from serve_helpers import train_run  # noqa: E402
from train_helpers import cli_main, one_thread  # noqa: E402,F401 (an autouse fixture)

import attnlab.serve.server  # noqa: E402
import attnlab.serve.store  # noqa: E402


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    runs = tmp_path_factory.mktemp("cli") / "runs"
    train_run(runs, "r")
    return runs


class NoServer:
    """Stands in for uvicorn: records that it would have served, returns at once."""

    served: list = []

    def __init__(self, store, sock, loopback=True):
        self.loopback = loopback

    def run(self, sockets):
        NoServer.served.append((sockets[0].getsockname(), self.loopback))


@pytest.mark.parametrize("host, warned", [("127.0.0.1", False), ("127.0.0.2", False), ("0.0.0.0", True)])
def test_prints_the_address_and_warns_off_loopback(runs, monkeypatch, capsys, host, warned):
    monkeypatch.setattr(attnlab.serve.server, "make_server", NoServer)
    NoServer.served.clear()
    capsys.readouterr()
    assert cli_main(["serve", "--runs", str(runs), "--host", host, "--port", "0"]) == 0
    out, err = capsys.readouterr()
    (address, port), loopback = NoServer.served[0]
    assert f"open http://{host}:{port}/" in out and port > 0 and "r" in out
    assert ("anyone who can reach this machine" in err) == warned
    assert loopback == (not warned)  # the Host header check guards every loopback address


def one_line_error(capsys, argv: list[str], match: str) -> None:
    capsys.readouterr()
    assert cli_main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("attnlab: error:") and "\n" not in err and match in err, err


def test_errors_are_one_line(runs, tmp_path, monkeypatch, capsys):
    one_line_error(capsys, ["serve", "--runs", str(tmp_path / "none")], "no runs folder")
    (tmp_path / "empty").mkdir()
    monkeypatch.setattr(attnlab.serve.store, "minilm_installed", lambda: False)
    one_line_error(capsys, ["serve", "--runs", str(tmp_path / "empty")], "nothing to open")
    one_line_error(capsys, ["serve", "--runs", str(runs), "--port", "70000"], "--port")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        one_line_error(capsys, ["serve", "--runs", str(runs), "--port", str(port)], "cannot listen")


def test_an_address_it_cannot_listen_on_is_one_line_without_the_network_warning(runs, capsys):
    """`serve --host no.such.host.invalid` once warned that anyone on the network could use the
    lab, then said it could not listen: the one line alone now."""
    one_line_error(capsys, ["serve", "--runs", str(runs), "--host", "no.such.host.invalid", "--port", "0"],
                   "cannot listen on no.such.host.invalid")


def imported_modules(path: Path) -> set[str]:
    """Every module a source file imports, at any depth of its code (`import a.b`, `from a.b import c`)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_the_server_and_sources_never_import_the_cli():
    """serve/ and sources.py are library code: no `attnlab.cli`, and sources.py no argparse; the
    CLI is the one that imports them."""
    src = Path(attnlab.serve.server.__file__).parents[1]  # src/attnlab
    files = sorted((src / "serve").glob("*.py")) + [src / "sources.py"]
    assert len(files) >= 6
    for path in files:
        uphill = [m for m in imported_modules(path) if m == "attnlab.cli" or m.startswith("attnlab.cli.")]
        assert uphill == [], (path.name, uphill)
    assert "argparse" not in imported_modules(src / "sources.py")
    assert "attnlab.serve.loopback" in imported_modules(src / "cli" / "serve.py")
