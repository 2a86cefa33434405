"""Edge values for every endpoint of the web lab: no value is ever a 500, every answer is strict
JSON (no NaN or Infinity), and the case the issue found, `/api/next` at temperature 1e-300,
is greedy sampling, answered with finite numbers."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
import torch

pytest.importorskip("starlette", reason="attnlab serve needs starlette: pip install -e '.[serve]'")
pytest.importorskip("uvicorn", reason="attnlab serve needs uvicorn: pip install -e '.[serve]'")

from serve_helpers import Client, train_run  # noqa: E402
from train_helpers import one_thread  # noqa: E402,F401 (an autouse fixture)

import attnlab.serve.app  # noqa: E402
import attnlab.serve.panels  # noqa: E402
from attnlab.runs.checkpoint import load_model  # noqa: E402
from attnlab.serve.server import Background  # noqa: E402
from attnlab.serve.store import ModelStore  # noqa: E402
from attnlab.tokenizers import load_tokenizer  # noqa: E402

JSON_H = {"Content-Type": "application/json"}
# What each endpoint reads besides "run", "model" and "text", and a body it answers with a 200.
# A model panel added to panels.PANELS later is fuzzed too, over the fields of all of them.
READS = {"attention": [], "explain": ["layer", "head", "token"], "lens": ["k"],
         "ablate": ["heads", "position", "each"], "next": ["temperature", "top_k", "top_p", "n"],
         "generate": ["max_new_tokens", "temperature", "top_k", "top_p", "seed"], "why": ["from", "to", "vs"]}
BASE = {"explain": {"layer": 0, "head": 1, "token": 2}, "ablate": {"heads": [[0, 1]], "each": False},
        "generate": {"max_new_tokens": 3}, "why": {"from": 4, "to": 1}}
EVERY_FIELD = sorted({f for fields in READS.values() for f in fields})
EDGES = [0, -1, 1, 2, 1e-300, -1e-300, 5e-324, 1e308, -1e308, 10 ** 400, -10 ** 400, 2 ** 63, 2 ** 31, 0.5,
         True, False, None, "", "1", "First", [], {}, [[[]]], [0, [1, [2, [3]]]], {"a": {"b": [None, {"c": 1}]}},
         [[0, 0]] * 3, [["x", 0]], [[0, 1e308]], [[-1, 0]]]


def strict(raw: bytes):
    """The parsed answer; NaN / Infinity (not JSON) raise."""
    def refuse(name):
        raise ValueError(f"{name} in the answer")
    return json.loads(raw, parse_constant=refuse)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    runs = tmp_path_factory.mktemp("fuzz") / "runs"
    train_run(runs, "r")  # 1 layer, 2 heads, 16 positions
    store = ModelStore(runs, minilm=False)
    with Background(store) as server:
        yield Client(server.url), runs / "r", store


async def asgi_post(app, path: str, body: bytes) -> tuple[int, bytes]:
    """POST `body` to the app in this process (the ASGI calls uvicorn makes, no socket): the
    whole app, its middleware and error handlers, at a fraction of a loopback request's cost."""
    headers = [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "", "headers": headers,
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    messages, asked = [], []

    async def receive():
        if not asked:
            asked.append(1)
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the client never hangs up; the app stops listening when it is done

    async def send(message):
        messages.append(message)

    await app(scope, receive, send)
    return messages[0]["status"], b"".join(m.get("body", b"") for m in messages[1:])


def endpoints() -> list[str]:
    return [p.name for p in attnlab.serve.panels.PANELS if p.model] + ["generate"]


def cases() -> list[tuple[str, dict]]:
    """(endpoint, body): each field an endpoint reads (and "run", "model", "text") set to each
    edge value in a body that is otherwise valid; then whole bodies of junk."""
    found = []
    for name in endpoints():
        base = {"run": "r", "text": "First", **BASE.get(name, {})}
        for field in ["run", "model", "unknown", "text", *READS.get(name, EVERY_FIELD)]:
            for value in EDGES:
                found.append((name, {**base, field: value}))
        for body in ({}, {"run": "r"}, {"run": "r", "text": "First", **{f: 10 ** 400 for f in EVERY_FIELD}},
                     {"run": {"run": "r"}, "text": {"text": "First"}}, {"run": "r", "text": ["First"] * 3}):
            found.append((name, body))
    return found


def test_no_edge_value_is_a_500_and_every_answer_is_strict_json(lab, caplog):
    _, _, store = lab
    app = attnlab.serve.app.make_app(store)

    async def every_case() -> list[tuple[str, dict, int, bytes]]:
        return [(name, body, *await asgi_post(app, f"/api/{name}", json.dumps(body).encode())) for name, body in cases()]

    wrong, answered = [], {}
    with caplog.at_level(logging.ERROR, logger="attnlab.serve"):
        results = asyncio.run(every_case())
    for name, body, status, raw in results:
        try:
            lines = [strict(line) for line in raw.splitlines()] if name == "generate" and status == 200 \
                else [strict(raw)]
        except ValueError as exc:
            wrong.append((name, body, status, f"not strict JSON: {exc}"))
            continue
        answered[status] = answered.get(status, 0) + 1
        if status >= 500 or not (status == 200 or lines[0].get("error")) or any("error" in line for line in lines[1:]):
            wrong.append((name, body, status, raw[:200]))
    assert wrong == []
    assert [r.getMessage() for r in caplog.records] == []  # no bug logged
    assert answered[200] > 50 and answered[400] > 500  # valid edge values are answered, the rest refused
    assert len(results) > 1300


def test_next_at_temperature_1e_300_is_greedy(lab):
    """1e-300 once overflowed to NaN (a 500: "Out of range float values are not JSON compliant").
    It is greedy sampling: the top token keeps all the probability."""
    client, run, _ = lab
    model, tokenizer = load_model(run)[0], load_tokenizer(run / "tokenizer")
    with torch.no_grad():
        logits, _ = model(torch.tensor([tokenizer.encode("First")]))
    top = int(logits[0, -1].argmax())
    for temperature in (1e-300, 5e-324, 1e-30):
        answer = client.ok("next", {"run": "r", "text": "First", "temperature": temperature, "n": 5})
        assert answer["kept"] == 1 and answer["kept_mass"] == 1.0
        assert answer["bars"][0] == {"token": tokenizer.token_strings([top])[0], "id": top, "p": 1.0, "kept": True,
                                     "p_kept": 1.0}
        assert [bar["p"] for bar in answer["bars"][1:]] == [0.0] * 4


def test_non_finite_numbers_are_sent_as_null(lab, monkeypatch):
    """Whatever a handler returns (a broken model's NaN loss, an infinite score), the answer is
    JSON, with null where the number was not finite."""
    def broken(shared, body):
        return {"loss": float("nan"), "scores": [1.5, float("inf"), -float("inf")], "nested": {"x": (float("nan"),)}}

    monkeypatch.setattr(attnlab.serve.panels, "PANELS", (attnlab.serve.panels.Panel("why", broken),))
    app = attnlab.serve.app.make_app(lab[2])
    status, raw = asyncio.run(asgi_post(app, "/api/why", json.dumps({"run": "r"}).encode()))
    assert status == 200
    assert strict(raw) == {"loss": None, "scores": [1.5, None, None], "nested": {"x": [None]}}
