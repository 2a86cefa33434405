"""The web lab's Features panel: /api/features answers what `attnlab features` computes."""

from __future__ import annotations

import os
from pathlib import Path

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


@pytest.mark.slow
def test_the_sae_panel_answers_what_the_command_prints(runs, capsys):
    """POST /api/sae trains the same SAE in the run the page has open, on the model the lab holds:
    the same JSON as `attnlab sae --json`."""
    import json

    client = TestClient(make_app(ModelStore(runs, minilm=False), loopback=False))
    small = {"tokens": 512, "eval_tokens": 128, "batch_size": 64, "steps": 2, "overwrite": True}
    answer = client.post("/api/sae", json={"run": "r", **small})
    assert answer.status_code == 200, answer.text
    assert cli_main(["sae", "--run", str(runs.resolve() / "r"), "--tokens", "512", "--eval-tokens", "128",
                     "--batch-size", "64", "--steps", "2", "--overwrite", "--threads", "1", "--json"]) == 0
    web, cli = answer.json(), json.loads(capsys.readouterr().out)
    # the same numbers; the weights' file is the SAE's new checkpoint, whose name has a random part
    assert Path(web.pop("sae")).parent.parent == Path(cli.pop("sae")).parent.parent == runs.resolve() / "r" / \
        "sae-blocks.0.ffwd.hidden-x4"
    assert web == cli
    for body, status, code in (({"run": "r", "run_dir": "x"}, 400, "unknown_setting"),
                               ({"run": "r", "expansion": 0}, 400, "bad_input"),
                               ({"run": "r", "tokens": 1 << 21}, 413, "over_budget")):
        got = client.post("/api/sae", json=body)
        assert (got.status_code, got.json()["code"]) == (status, code), got.text


@pytest.mark.slow
def test_the_features_panel_answers_what_the_command_prints(runs, capsys):
    """`attnlab features --json` and POST /api/features assemble one object with one function."""
    import json

    client = TestClient(make_app(ModelStore(runs, minilm=False), loopback=False))
    for body, flags in (({"unit": 3, "text": KOREAN, "top": 5}, ["--feature", "3", "--text", KOREAN, "--top", "5"]),
                        ({"kind": "neuron", "top": 7}, ["--neurons", "--top", "7"])):
        answer = client.post("/api/features", json={"run": "r", **body})
        assert answer.status_code == 200, answer.text
        assert cli_main(["features", "--run", str(runs.resolve() / "r"), "--tokens", str(TOKENS), *flags,
                         "--threads", "1", "--json"]) == 0
        assert answer.json() == json.loads(capsys.readouterr().out)
