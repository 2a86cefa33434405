"""serve/api.py over loopback: the same numbers as the library (captured weights, explain's steps,
the next-token cut, a seeded generation), hostile tokens as plain strings, each refusal's code,
and a generation that lets other requests in and stops when its client goes away."""

from __future__ import annotations

import http.client
import json
import threading
import time

import pytest
import torch

pytest.importorskip("starlette", reason="attnlab serve needs starlette: pip install -e '.[serve]'")
pytest.importorskip("uvicorn", reason="attnlab serve needs uvicorn: pip install -e '.[serve]'")

from serve_helpers import HOSTILE, RUN_TEXT as TEXT, Client  # noqa: E402
from train_helpers import one_thread  # noqa: E402,F401 (an autouse fixture)

import attnlab.viz.html  # noqa: E402
from attnlab.look.capture import attention_maps  # noqa: E402
from attnlab.serve.server import Background  # noqa: E402
from attnlab.serve.store import ModelStore  # noqa: E402


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


def test_hostile_tokens_come_back_as_plain_json_strings(lab, tokenizer):
    status, headers, raw = lab.request("POST", "/api/attention", json.dumps({"run": "r", "text": HOSTILE}).encode(),
                                       {"Content-Type": "application/json"})
    assert status == 200 and headers["content-type"] == "application/json"
    answer = json.loads(raw)
    assert tokenizer.decode(answer["ids"]) == HOSTILE
    assert answer["tokens"] == tokenizer.token_strings(answer["ids"])  # the CLI's labels
    assert answer["labels"][-1] == "\\u2028"  # a line separator is shown escaped, not as a line break


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


def test_the_codes_come_from_where_the_text_is_checked(lab):
    """TextModel.encode gives each mistake its code: the page translates them (lab.js)."""
    for text, status, code in [("   ", 400, "empty_text"), ("a" * 70, 400, "too_many_tokens"),
                               ("First \u00e9", 400, "bad_value"), ("First \U0001F600", 400, "bad_value")]:
        got, answer = lab.post("attention", {"run": "r", "text": text})
        assert (got, answer["code"]) == (status, code), (text, answer)
    got, answer = lab.post("lens", {"run": "r", "text": "F"})
    assert (got, answer["code"]) == (400, "too_few_tokens")


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


# ---- the checked arguments, without a server ---------------------------------------------------

def test_each_argument_is_checked_and_its_mistake_has_a_code():
    from attnlab.errors import UserError
    from attnlab.serve.api import MAX_TEXT, float_arg, int_arg, text_arg

    assert text_arg({"text": "나는"}) == "나는" and int_arg({"k": 3}, "k", 1, 5) == 3
    assert int_arg({}, "k", 1, 5, default=2) == 2 and int_arg({}, "k", 1, 5, optional=True) is None
    assert float_arg({"t": 1}, "t", 0.0, 2.0, 0.5) == 1.0 and float_arg({}, "t", 0.0, 2.0, 0.5) == 0.5
    for call, status, code in (
            (lambda: text_arg({"text": 3}), 400, "bad_type"),
            (lambda: text_arg({"text": "a" * (MAX_TEXT + 1)}), 413, "text_too_long"),
            (lambda: text_arg({"text": "a\ud800"}), 400, "bad_value"),
            (lambda: int_arg({}, "k", 1, 5), 400, "missing"),
            (lambda: int_arg({"k": True}, "k", 1, 5), 400, "bad_type"),
            (lambda: int_arg({"k": 2.0}, "k", 1, 5), 400, "bad_type"),
            (lambda: int_arg({"k": 6}, "k", 1, 5), 400, "out_of_range"),
            (lambda: float_arg({"t": 10 ** 400}, "t", 0.0, 2.0, 0.5), 400, "out_of_range"),  # no OverflowError
            (lambda: float_arg({"t": float("nan")}, "t", 0.0, 2.0, 0.5), 400, "bad_type"),
            (lambda: float_arg({"t": False}, "t", 0.0, 2.0, 0.5), 400, "bad_type"),
            (lambda: float_arg({"t": -0.1}, "t", 0.0, 2.0, 0.5), 400, "out_of_range")):
        with pytest.raises(UserError) as caught:
            call()
        assert (caught.value.status, caught.value.code) == (status, code), caught.value


def test_rounded_keeps_six_decimals_and_sends_a_masked_score_as_null():
    from attnlab.serve.api import rounded

    assert rounded(torch.tensor([0.1234564, 2 / 3])) == [0.123456, 0.666667]
    assert rounded(torch.tensor([[1.0, float("-inf")], [float("nan"), 0.5]])) == [[1.0, None], [None, 0.5]]
