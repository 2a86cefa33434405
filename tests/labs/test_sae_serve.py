"""The web lab's Features panel: /api/features answers what `attnlab features` computes."""

from __future__ import annotations

import os

import pytest
from starlette.testclient import TestClient

from serve_helpers import KOREAN, train_run
from train_helpers import cli_main, one_thread  # noqa: F401 (one_thread: an autouse fixture)

from attnlab.labs.sae.lab import open_browser
from attnlab.serve.api_features import TOKENS
from attnlab.serve.app import asset, make_app, page_html
from attnlab.serve.store import ModelStore


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    runs = tmp_path_factory.mktemp("features") / "runs"
    train_run(runs, "r")
    train_run(runs, "bare")
    assert cli_main(["sae", "--run", str(runs / "r"), "--tokens", "512", "--eval-tokens", "128", "--batch-size", "64",
                     "--steps", "2", "--threads", "1", "--json"]) == 0
    return runs


@pytest.mark.slow
def test_the_features_endpoint(runs):
    client = TestClient(make_app(ModelStore(runs, minilm=False), loopback=False))
    answer = client.post("/api/features", json={"run": "r", "unit": 3, "text": KOREAN, "top": 5})
    assert answer.status_code == 200, answer.text
    a = answer.json()
    browser, name = open_browser(runs / "r", None, TOKENS)
    assert a["sae"] == name and a["listing"] == browser.listing("feature")[:5]
    assert a["detail"] == browser.detail("feature", 3)
    assert [row["token"] for row in a["fire"]] == list(KOREAN.replace(" ", "␣"))
    neurons = client.post("/api/features", json={"run": "r", "kind": "neuron", "unit": 1}).json()
    assert neurons["detail"]["kind"] == "neuron" and len(neurons["listing"]) == 40
    assert client.post("/api/features", json={"run": "bare"}).json()["sae"] is None  # no SAE: the panel hides
    for body, status, code in (({"run": "bare", "sae": "sae-x"}, 404, "no_sae"),
                               ({"run": "r", "kind": "neurons"}, 400, "bad_value"),
                               ({"run": "r", "unit": 10 ** 6}, 400, "out_of_range"),
                               ({"run": "r", "sae": 5}, 400, "bad_type")):
        got = client.post("/api/features", json=body)
        assert (got.status_code, got.json()["code"]) == (status, code), got.text
    assert "/api/features" in asset("features.js") and '<script src="/static/features.js"' in page_html()
