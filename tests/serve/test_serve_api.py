"""`attnlab serve`'s JSON API over loopback: the same numbers as the CLI and the library, which
run folders it opens, its limits and headers, concurrent requests kept apart, and 200
malformed requests that all get a 4xx with a message."""

from __future__ import annotations

import dataclasses
import http.client
import json
import logging
import os
import random
import re
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

pytest.importorskip("starlette", reason="attnlab serve needs starlette: pip install -e '.[serve]'")
pytest.importorskip("uvicorn", reason="attnlab serve needs uvicorn: pip install -e '.[serve]'")

from serve_helpers import HOSTILE, Client, train_run  # noqa: E402
from train_helpers import cli_main, one_thread  # noqa: E402,F401 (an autouse fixture)

import attnlab.serve.api  # noqa: E402
import attnlab.serve.app  # noqa: E402
import attnlab.serve.panels  # noqa: E402
import attnlab.viz.html  # noqa: E402
from attnlab.errors import UserError  # noqa: E402
from attnlab.runs.checkpoint import load_model  # noqa: E402
from attnlab.serve.api import MAX_TEXT  # noqa: E402
from attnlab.serve.app import MAX_BODY  # noqa: E402
from attnlab.serve.server import Background  # noqa: E402
from attnlab.serve.store import ModelStore  # noqa: E402
from attnlab.look.capture import attention_maps  # noqa: E402

TEXT = "First Citizen: hear me"  # 22 characters: inside the tiny run's 32 positions


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """runs/ with a tiny run "r" (2 layers, 2 heads), a symlink to it, a folder without the run
    marker, a hidden folder, and a symlink to a run outside runs/."""
    root = tmp_path_factory.mktemp("serve")
    runs = root / "runs"
    run = train_run(runs, "r", "--n-layers", "2", "--block-size", "64")
    outside = train_run(root / "elsewhere", "secret", "--max-iters", "2")
    (runs / "inside").symlink_to(run, target_is_directory=True)
    (runs / "escape").symlink_to(outside, target_is_directory=True)
    plain = runs / "plain"
    plain.mkdir()
    (plain / "config.json").write_text((run / "config.json").read_text())
    (runs / ".hidden").mkdir()
    (runs / "dangling").symlink_to(root / "nothing")
    return runs


@pytest.fixture(scope="module")
def lab(runs):
    with Background(ModelStore(runs, minilm=False)) as server:
        yield Client(server.url)


@pytest.fixture(scope="module")
def model(runs):
    return load_model(runs / "r")[0]


def cli_json(capsys, *argv) -> dict:
    assert cli_main([str(a) for a in argv]) == 0
    return json.loads(capsys.readouterr().out)


def test_lists_only_marked_runs_inside_the_folder(lab):
    status, _, raw = lab.request("GET", "/api/models")
    assert status == 200
    assert [m["run"] for m in json.loads(raw)["models"]] == ["inside", "r"]  # sorted; no escape, plain, hidden
    for name in ("escape", "plain", ".hidden", "dangling", "../r", "r/../r", "/r", "secret", "../elsewhere/secret"):
        status, answer = lab.post("attention", {"run": name, "text": TEXT})
        assert status == 404 and answer["code"] == "unknown_model", (name, answer)
    assert lab.ok("attention", {"run": "inside", "text": TEXT})["tokens"] == list(TEXT.replace(" ", "␣"))


def test_attention_is_the_captured_weights(lab, model, tokenizer):
    answer = lab.ok("attention", {"run": "r", "text": TEXT})
    idx = torch.tensor([tokenizer.encode(TEXT)])
    maps = attention_maps(model, idx)
    expected = torch.stack([maps[n][0] for n in maps])  # (L, H, T, T)
    assert answer["shape"] == list(expected.shape) == [2, 2, len(TEXT), len(TEXT)]
    assert answer["layers"] == ["blocks.0.attn", "blocks.1.attn"]
    assert (answer["bits"], answer["compression"]) == (16, "deflate")  # as the HTML view packs a small stack
    got = torch.from_numpy(attnlab.viz.html.decode_weights(answer)).double()
    torch.testing.assert_close(got, expected.double(), atol=0.5 / 65535 + 1e-7, rtol=0)  # rounded to 1/65535
    assert answer["ids"] == idx[0].tolist()


@pytest.fixture(scope="module")
def tokenizer(runs):
    from attnlab.tokenizers import load_tokenizer

    return load_tokenizer(runs / "r" / "tokenizer")


def test_lens_ablate_why_follow_the_cli_json(lab, runs, capsys, model, tokenizer):
    lens = lab.ok("lens", {"run": "r", "text": TEXT, "k": 3})
    cli = cli_json(capsys, "lens", TEXT, "--run", runs / "r", "--k", "3", "--json")
    assert {k: lens[k] for k in cli} == cli
    assert lens == cli  # one run, one to_json()
    assert [[cell[0]["token"] for cell in row] for row in lens["top_k"]] == cli["top"]  # the first guess is "top"
    assert all(len(cell) == 3 for row in lens["top_k"] for cell in row)

    ablate = lab.ok("ablate", {"run": "r", "text": TEXT, "heads": [[0, 1], [1, 0]], "position": 4})
    cli = cli_json(capsys, "ablate", "--run", runs / "r", "--text", TEXT, "--heads", "0.1,1.0", "--json")
    assert ablate["set"] == cli["set"] and ablate["heads"] == cli["heads"]
    assert ablate["baseline_loss"] == cli["baseline_loss"]
    quick = lab.ok("ablate", {"run": "r", "text": TEXT, "heads": [[0, 1], [1, 0]], "each": False})  # a click
    assert "heads" not in quick and quick["set"] == cli["set"] and quick["baseline_loss"] == cli["baseline_loss"]
    # the next-token distribution at position 4, against the model run with the heads' z zeroed by hand
    idx = torch.tensor([tokenizer.encode(TEXT)])
    with torch.no_grad():
        hooks = []
        for layer, head in ((0, 1), (1, 0)):
            attn = model.blocks[layer].attn
            D = attn.d_head

            def pre(module, args, head=head, D=D):  # W_O's input (B, T, C) = the heads side by side
                x = args[0].clone()
                x[..., head * D:(head + 1) * D] = 0
                return (x,)
            hooks.append(attn.proj.register_forward_pre_hook(pre))
        try:
            logits, _ = model(idx)
        finally:
            for h in hooks:
                h.remove()
    expected = logits[0, 4].softmax(-1)
    top = ablate["next"]["ablated"]
    assert [t["id"] for t in top] == expected.topk(len(top)).indices.tolist()
    torch.testing.assert_close(torch.tensor([t["p"] for t in top]), expected.topk(len(top)).values.float(), atol=2e-6, rtol=0)
    assert ablate["next"]["actual"]["token"] == tokenizer.token_strings(idx[0, 5:6].tolist())[0] == "␣"

    from attnlab.why.answers import why

    answer = lab.ok("why", {"run": "r", "text": TEXT, "from": 12, "to": 3, "vs": 6})
    assert answer == json.loads(json.dumps(why(model, idx, 12, 3, 6, tokens=answer["tokens"])))
    for to, vs, later in ((13, 6, "'to'"), (3, 13, "'vs'")):  # the message names the field that looks ahead
        status, answer = lab.post("why", {"run": "r", "text": TEXT, "from": 12, "to": to, "vs": vs})
        assert status == 400 and answer["code"] == "future_token" and later in answer["error"]


def test_explain_steps_are_the_models_numbers(lab, model, tokenizer):
    from attnlab.look.hooks import record

    answer = lab.ok("explain", {"run": "r", "text": TEXT, "layer": 1, "head": 1, "token": 7})
    names = [s["name"] for s in answer["steps"]]
    assert names == ["q", "k", "v", "scores", "scaled", "masked", "weights", "out", "z", "attn.out"]
    step = {s["name"]: s for s in answer["steps"]}
    idx = torch.tensor([tokenizer.encode(TEXT)])
    with torch.no_grad(), record(model, "blocks.1.attn.weights", "blocks.1.attn.z") as rec:
        model(idx)
    weights = rec["blocks.1.attn.weights"][0, 1, 7]  # (T,): token 7's row of head 1
    got = torch.tensor(step["weights"]["values"][0], dtype=torch.float64)
    torch.testing.assert_close(got, weights.double(), atol=1e-6, rtol=0)
    assert got[8:].abs().max() == 0  # the future is masked
    assert step["masked"]["values"][0][8] is None  # -inf, sent as null
    torch.testing.assert_close(torch.tensor(step["out"]["values"][0], dtype=torch.float64), rec["blocks.1.attn.z"][0, 7, 1].double(),
                               atol=2e-6, rtol=0)
    assert step["out"]["values"] == step["z"]["values"] or \
        torch.allclose(torch.tensor(step["out"]["values"]), torch.tensor(step["z"]["values"]), atol=2e-6)
    assert step["k"]["shape"] == [len(TEXT), model.blocks[1].attn.d_head] and len(step["k"]["rows"]) == len(TEXT)


def test_next_token_distribution_and_the_cut(lab, model, tokenizer):
    idx = torch.tensor([tokenizer.encode(TEXT)])
    with torch.no_grad():
        logits, _ = model(idx)
    last = logits[0, -1].double()
    for temperature, top_k, top_p in ((1.0, None, 1.0), (0.5, 3, 1.0), (1.5, None, 0.6)):
        answer = lab.ok("next", {"run": "r", "text": TEXT, "temperature": temperature, "top_k": top_k,
                                 "top_p": top_p, "n": 100})
        p = (last / temperature).softmax(-1)  # the reference: sort, keep the head, renormalise
        order = p.argsort(descending=True)
        keep = torch.zeros_like(p, dtype=torch.bool)
        total = 0.0
        for rank, i in enumerate(order.tolist()):
            if (top_k is not None and rank >= top_k) or (top_p < 1 and total >= top_p):
                break
            keep[i] = True
            total += p[i].item()
        kept = torch.where(keep, p, torch.zeros_like(p))
        kept = kept / kept.sum()
        assert answer["kept"] == int(keep.sum())
        for bar in answer["bars"]:
            assert bar["kept"] == bool(keep[bar["id"]])
            assert bar["p"] == pytest.approx(p[bar["id"]].item(), abs=2e-6)
            assert bar["p_kept"] == pytest.approx(kept[bar["id"]].item(), abs=2e-6)


def test_generation_streams_the_sampled_tokens(lab, model, tokenizer):
    body = json.dumps({"run": "r", "text": "First", "max_new_tokens": 12, "temperature": 0.8, "seed": 3}).encode()
    status, headers, raw = lab.request("POST", "/api/generate", body, {"Content-Type": "application/json"})
    assert status == 200 and headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in raw.decode().splitlines()]
    assert lines[-1] == {"done": True} and len(lines) > 2
    text = "".join(line["text"] for line in lines[:-1])
    expected = model.generate(torch.tensor([tokenizer.encode("First")]), 12, temperature=0.8,
                              generator=torch.Generator().manual_seed(3))
    assert text == tokenizer.decode(expected[0, 5:].tolist())


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


def test_hostile_tokens_come_back_as_plain_json_strings(lab, tokenizer):
    status, headers, raw = lab.request("POST", "/api/attention", json.dumps({"run": "r", "text": HOSTILE}).encode(),
                                       {"Content-Type": "application/json"})
    assert status == 200 and headers["content-type"] == "application/json"
    answer = json.loads(raw)
    assert tokenizer.decode(answer["ids"]) == HOSTILE
    assert answer["tokens"] == tokenizer.token_strings(answer["ids"])  # the CLI's labels
    assert answer["labels"][-1] == "\\u2028"  # a line separator is shown escaped, not as a line break


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


def test_a_generation_lets_other_requests_in_and_stops_when_its_client_goes_away(runs):
    """A 400-token generation holds the model's lock one token at a time: paused between two
    tokens, it lets an attention request through. Then its client hangs up after the first
    lines: the server stops generating (each step is slowed here, so all 400 would take
    seconds), its thread ends, and the next request is answered."""
    store = ModelStore(runs, minilm=False)
    source = store.get({"run": "r"}).source
    steps, waited = [], []
    paused, answered = threading.Event(), threading.Event()

    def in_generation() -> bool:
        return threading.current_thread().name == "attnlab serve generation"

    def count(module, args, output):
        if in_generation():
            steps.append(1)
            time.sleep(0.01)  # a pace, not a measure: 400 steps take 4 s, a hang-up is seen in milliseconds

    decode = source.tokenizer.decode

    def decode_and_pause(ids):  # runs between two tokens, the lock free
        if in_generation() and len(steps) == 3 and not paused.is_set():
            paused.set()
            waited.append(answered.wait(timeout=30))
        return decode(ids)

    hook = source.model.register_forward_hook(count)
    source.tokenizer.decode = decode_and_pause
    try:
        with Background(store) as server:
            client = Client(server.url)
            conn = http.client.HTTPConnection(client.host, client.port, timeout=60)
            conn.request("POST", "/api/generate", json.dumps({"run": "r", "text": "First", "max_new_tokens": 400}),
                         {"Content-Type": "application/json"})
            response = conn.getresponse()
            assert response.status == 200 and "text" in json.loads(response.readline())
            assert paused.wait(timeout=30)
            assert client.ok("attention", {"run": "r", "text": TEXT})["shape"][0] == 2  # between two tokens
            answered.set()
            assert "text" in json.loads(response.readline())
            conn.close()  # the client goes away mid-stream
            for thread in [t for t in threading.enumerate() if t.name == "attnlab serve generation"]:
                thread.join(timeout=60)
                assert not thread.is_alive()
            assert waited == [True] and 3 <= len(steps) < 400
            assert client.ok("attention", {"run": "r", "text": TEXT})["shape"][0] == 2
    finally:
        hook.remove()
        del source.tokenizer.decode


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


def test_the_codes_come_from_where_the_text_is_checked(lab):
    """TextModel.encode gives each mistake its code: the page translates them (lab.js)."""
    for text, status, code in [("   ", 400, "empty_text"), ("a" * 70, 400, "too_many_tokens"),
                               ("First \u00e9", 400, "bad_value"), ("First \U0001F600", 400, "bad_value")]:
        got, answer = lab.post("attention", {"run": "r", "text": text})
        assert (got, answer["code"]) == (status, code), (text, answer)
    got, answer = lab.post("lens", {"run": "r", "text": "F"})
    assert (got, answer["code"]) == (400, "too_few_tokens")


def test_concurrent_requests_never_see_each_others_ablation(lab):
    """Ablations of every head run beside plain attention and lens requests: each answer equals
    the one the same request gets alone."""
    texts = ["First Citizen: hear me", "Speak, speak.", "All: resolved"]
    bodies = [(name, {"run": "r", "text": t, **extra}) for t in texts
              for name, extra in (("attention", {}), ("lens", {}),
                                  ("ablate", {"heads": [[0, 0], [0, 1], [1, 0], [1, 1]]}), ("ablate", {"heads": []}))]
    alone = [lab.ok(name, body) for name, body in bodies]
    failures = []

    def client(k: int) -> None:
        order = random.Random(k).sample(range(len(bodies)), len(bodies))
        for i in order:
            name, body = bodies[i]
            status, answer = lab.post(name, body)
            if status != 200 or answer != alone[i]:
                failures.append((name, body["text"], status))

    threads = [threading.Thread(target=client, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


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


def test_values_python_itself_refuses_are_4xx(lab):
    """Values that once escaped the checks: an integer too big for a float (OverflowError), one of
    over 4300 digits (json.loads' ValueError), half a surrogate pair (no tokenizer reads it, MiniLM's
    raises TypeError), a character the char vocabulary lacks in a prompt."""
    json_h = {"Content-Type": "application/json"}
    bodies = [json.dumps({"run": "r", "text": "First", "temperature": 10 ** 400}).encode(),
              json.dumps({"run": "r", "text": "First", "top_p": -10 ** 400}).encode(),
              b'{"run": "r", "text": "First", "max_new_tokens": ' + b"9" * 5000 + b"}",
              json.dumps({"run": "r", "text": "First \ud800"}).encode(),
              json.dumps({"run": "r", "text": "First \u00e9"}).encode()]
    for body in bodies:
        for name in ("next", "generate"):
            status, _, raw = lab.request("POST", f"/api/{name}", body, json_h)
            answer = json.loads(raw)
            assert 400 <= status < 500 and answer["error"] and "\n" not in answer["error"], (name, body[:60], raw)


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
