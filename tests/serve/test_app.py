"""serve/app.py over loopback: the page and its assets offline under a CSP, only requests addressed
to this machine, a bug as a logged 500 that gives nothing away, a UserError as its own status and
code, and 200 malformed requests that all get a 4xx with a message."""

from __future__ import annotations

import dataclasses
import json
import logging
import random
import re
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="attnlab serve needs starlette: pip install -e '.[serve]'")
pytest.importorskip("uvicorn", reason="attnlab serve needs uvicorn: pip install -e '.[serve]'")

from serve_helpers import RUN_TEXT as TEXT, Client  # noqa: E402
from train_helpers import one_thread  # noqa: E402,F401 (an autouse fixture)

import attnlab.serve.api  # noqa: E402
import attnlab.serve.panels  # noqa: E402
import attnlab.viz.html  # noqa: E402
from attnlab.errors import UserError  # noqa: E402
from attnlab.serve.api import MAX_TEXT  # noqa: E402
from attnlab.serve.app import MAX_BODY  # noqa: E402
from attnlab.serve.server import Background  # noqa: E402
from attnlab.serve.store import ModelStore  # noqa: E402


def test_page_and_assets_are_offline_with_a_csp(lab):
    status, headers, page = lab.request("GET", "/")
    assert status == 200 and "default-src 'none'" in headers["content-security-policy"]
    assert "script-src 'self'" in headers["content-security-policy"]
    html = page.decode()
    assert re.findall(r"<script[^>]*>", html) == ['<script src="/static/heatmap.js" defer>',
                                                  '<script src="/static/lab.js" defer>',
                                                  '<script src="/static/patch.js" defer>',
                                                  '<script src="/static/features.js" defer>',
                                                  '<script src="/static/labs.js" defer>']  # no inline script
    for name in ("lab.js", "lab.css", "heatmap.js", "strings.json", "patch.js", "features.js", "labs.js"):
        status, headers, body = lab.request("GET", f"/static/{name}")
        assert status == 200 and "content-security-policy" in headers
        assert not re.search(r"https?://", body.decode()), name  # nothing from the network
    for name in ("lab.js", "heatmap.js", "patch.js", "features.js", "labs.js"):
        assert ".innerHTML" not in lab.request("GET", f"/static/{name}")[2].decode()
    heatmap = lab.request("GET", "/static/heatmap.js")[2].decode()  # the HTML view's own painter
    assert heatmap == (Path(attnlab.viz.html.__file__).parent / "assets" / "heatmap.js").read_text(encoding="utf-8")
    assert json.loads(lab.request("GET", "/static/strings.json")[2])["ko"]["switch"] == "English"
    status, headers, _ = lab.request("POST", "/api/attention", json.dumps({"run": "r", "text": TEXT}).encode(),
                                     {"Content-Type": "application/json"})
    assert status == 200 and headers["x-content-type-options"] == "nosniff"


def test_only_requests_addressed_to_this_machine_are_answered(lab):
    """Loopback addresses (IPv4 and IPv6) and localhost pass; a DNS name, even one ending in
    127.0.0.1's digits, is refused (DNS rebinding) with a 400 and a message."""
    for host in (f"127.0.0.1:{lab.port}", "127.0.0.1", f"localhost:{lab.port}", "LocalHost", f"[::1]:{lab.port}",
                 "[::1]", "127.0.0.2:8000"):
        status, _, raw = lab.request("GET", "/api/models", headers={"Host": host})
        assert status == 200 and json.loads(raw)["models"], host
    for host in ("attacker.example", f"attacker.example:{lab.port}", "127.0.0.1.nip.io", "localhost.attacker.example",
                 "[::1", "[2001:db8::1]:8000", "192.168.1.5", "0.0.0.0"):
        for method, path in (("GET", "/"), ("POST", "/api/attention")):
            status, _, raw = lab.request(method, path, json.dumps({"run": "r", "text": TEXT}).encode(),
                                         {"Host": host, "Content-Type": "application/json"})
            assert status == 400 and json.loads(raw)["code"] == "bad_host", (host, path, raw)


def replace_handler(monkeypatch, name: str, handler) -> None:
    """The app made after this answers POST /api/<name> with `handler`."""
    monkeypatch.setattr(attnlab.serve.panels, "PANELS", tuple(dataclasses.replace(p, answer=handler) if p.name == name
                                                             else p for p in attnlab.serve.panels.PANELS))


def test_a_bug_is_a_logged_500_with_a_generic_message(runs, monkeypatch, caplog):
    """An unexpected exception (here a ValueError, which a client's bad value never becomes) is a
    500 whose one-line message gives nothing away; the log has the traceback. A generation that
    fails says so in its last line."""
    def broken(shared, body):
        raise ValueError("secret detail")

    replace_handler(monkeypatch, "why", broken)
    monkeypatch.setattr(attnlab.serve.api, "decode_stream", lambda tokens, tokenizer, write: broken(None, None))
    with caplog.at_level(logging.ERROR, logger="attnlab.serve"), Background(ModelStore(runs, minilm=False)) as server:
        client = Client(server.url)
        status, answer = client.post("why", {"run": "r", "text": TEXT, "from": 3, "to": 1})
        assert status == 500
        assert answer == {"error": "internal error; the server log has the details", "code": "internal"}
        status, _, raw = client.request("POST", "/api/generate", json.dumps({"run": "r", "text": "First"}).encode(),
                                        {"Content-Type": "application/json"})
        assert status == 200 and json.loads(raw.decode().splitlines()[-1]) == {
            "error": "the generation failed; the server log has the details", "code": "generation_failed"}
        assert b"secret" not in raw
        assert client.ok("attention", {"run": "r", "text": TEXT})["shape"][0] == 2
    logged = [r for r in caplog.records if r.name.startswith("attnlab.serve") and r.exc_info]
    assert len(logged) == 2 and all(str(r.exc_info[1]) == "secret detail" for r in logged)


def test_a_user_error_is_its_own_status_code_and_message(runs, monkeypatch, caplog):
    """A UserError raised anywhere under a handler (here by a stand-in for `why`) is answered with
    the status and code it carries and its first line, whatever its words; a status that is not
    a 4xx is a 400, and one without a status or code is 400 "bad_input". Nothing is logged."""
    errors = iter([UserError("the words are never read", status=409, code="made_up"),
                   UserError("first line\nsecond line", status=503, code="other_code"),
                   UserError("too many tokens, at most 12")])

    def refuse(shared, body):
        raise next(errors)

    replace_handler(monkeypatch, "why", refuse)
    body = {"run": "r", "text": TEXT, "from": 3, "to": 1}
    with caplog.at_level(logging.ERROR, logger="attnlab.serve"), Background(ModelStore(runs, minilm=False)) as server:
        client = Client(server.url)
        assert client.post("why", body) == (409, {"error": "the words are never read", "code": "made_up"})
        assert client.post("why", body) == (400, {"error": "first line", "code": "other_code"})
        assert client.post("why", body) == (400, {"error": "too many tokens, at most 12", "code": "bad_input"})
    assert not [r for r in caplog.records if r.name.startswith("attnlab.serve")]


# What each endpoint reads (besides the model), a valid body for it, and wrong values of each kind.
READS = {"attention": ["text"], "explain": ["text", "layer", "head", "token"], "lens": ["text", "k"],
         "ablate": ["text", "heads", "position"], "next": ["text", "temperature", "top_k", "top_p", "n"],
         "generate": ["text", "max_new_tokens", "temperature", "top_k", "top_p", "seed"],
         "why": ["text", "from", "to", "vs"]}


BASE = {"attention": {"text": "First"}, "explain": {"text": "First", "layer": 0, "head": 0},
        "lens": {"text": "First"}, "ablate": {"text": "First", "heads": [[0, 0]]}, "next": {"text": "First"},
        "generate": {"text": "First", "max_new_tokens": 2}, "why": {"text": "First", "from": 3, "to": 1}}


BAD = {"text": [None, True, 1.5, -1, [], {}, ["First"]],
       "number": [True, "3", [], {}, [1], 10 ** 12, -1, -10 ** 12, 10 ** 400, float("nan"), float("inf"),
                  float("-inf")],
       "heads": [True, "0.1", {}, -1, [[0]], [[0, 9]], [[9, 0]], [[0, 0], [0, 0]], [["0", "1"]], [[0, True]],
                 [[0.0, 1.0]], [[0, 0]] * 50]}


def malformed_requests(rng: random.Random) -> list[tuple[str, str, bytes, dict]]:
    """(method, path, body, headers): 200 requests the lab must refuse with a 4xx."""
    json_h = {"Content-Type": "application/json"}
    endpoints = ["attention", "explain", "lens", "ablate", "next", "generate", "why"]
    names = ["../r", "../../etc", "/etc/passwd", "r/..", "..", ".", "escape", "plain", ".hidden", "r\x00",
             "%2e%2e/r", "C:\\r", "~", "nope", 7, None, ["r"], {"run": "r"}]
    cases: list[tuple[str, str, bytes, dict]] = []
    while len(cases) < 200:
        kind = len(cases) % 10
        ep = rng.choice(endpoints)
        path = f"/api/{ep}"
        if kind == 0:  # not JSON at all
            cases.append(("POST", path, rng.choice([b"{", b"nul", b"\xff\xfe", b"{'run': 'r'}", b"",
                                                    b"[1, 2", b"{\"run\": \"r\",}", b"[" * 50_000,
                                                    b'{"run": "r", "text": "First", "k": ' + b"9" * 5000 + b"}"]),
                          json_h))
        elif kind == 1:  # JSON, but not an object
            cases.append(("POST", path, json.dumps(rng.choice([[], 3, "r", None, [{"run": "r"}]])).encode(), json_h))
        elif kind == 2:  # a field the endpoint reads, with a wrong type or value
            field = rng.choice(READS[ep])
            value = rng.choice(BAD["heads" if field == "heads" else "text" if field == "text" else "number"])
            body = {"run": "r", **BASE[ep], field: value}
            cases.append(("POST", path, json.dumps(body, allow_nan=True).encode(), json_h))
        elif kind == 3:  # an unknown run, a path, a traversal
            cases.append(("POST", path, json.dumps({"run": rng.choice(names), "text": "First"}).encode(), json_h))
        elif kind == 4:  # a huge text, or a huge body
            if rng.random() < 0.5:
                cases.append(("POST", path, json.dumps({"run": "r", "text": "a" * (MAX_TEXT + 1)}).encode(), json_h))
            else:
                cases.append(("POST", path, b'{"run": "r", "text": "' + b"a" * (MAX_BODY + 10) + b'"}', json_h))
        elif kind == 5:  # no model named, or both
            cases.append(("POST", path, json.dumps(rng.choice([{"text": "First"}, {"run": "r", "model": "minilm",
                                                                                   "text": "First"},
                                                                {"model": "gpt-5", "text": "First"}])).encode(), json_h))
        elif kind == 6:  # not sent as JSON
            cases.append(("POST", path, b'{"run": "r", "text": "First"}',
                          rng.choice([{}, {"Content-Type": "text/plain"}, {"Content-Type": "application/x-www-form-urlencoded"}])))
        elif kind == 7:  # unknown paths and files, traversal in the URL
            cases.append(("GET", rng.choice(["/api/nothing", "/static/../store.py", "/static/%2e%2e%2fstore.py",
                                             "/static/lab.js%00", "/static/index.html", "/static/..%2f..%2fapp.py",
                                             "/../../etc/passwd", "/api/../api/models/x"]), b"", {}))
        elif kind == 8:  # a wrong method
            cases.append((rng.choice(["GET", "PUT", "DELETE"]), path, b"", {}))
        else:  # text the model cannot read: empty, characters it never saw, too many tokens, a bad position
            text = rng.choice(["", "\U0001F600 ☃", "First \u00e9", "First \ud800"]
                              + ([] if ep == "generate" else ["  ", "a" * 70]))
            cases.append(("POST", path, json.dumps({"run": "r", **BASE[ep], "text": text}).encode(), json_h))
    return cases


def test_fuzz_200_malformed_requests_get_4xx_with_a_message(lab):
    cases = malformed_requests(random.Random(0))
    assert len(cases) == 200
    wrong = []
    for method, path, body, headers in cases:
        status, got_headers, raw = lab.request(method, path, body or None, headers)
        try:
            message = json.loads(raw).get("error")
        except ValueError:
            message = None
        if not (400 <= status < 500 and isinstance(message, str) and message):
            wrong.append((method, path, body[:80], status, raw[:200]))
    assert wrong == []
    assert lab.ok("attention", {"run": "r", "text": TEXT})["shape"][0] == 2  # still answering
