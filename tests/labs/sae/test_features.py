"""attnlab.labs.sae.features: `attnlab features` lists, shows and reads Korean, the web lab's
Features endpoint and panel answer what the command prints (slow: trained runs, conftest.py); the
answer's JSON and the printed lines by hand."""

from __future__ import annotations

import json

import pytest
from starlette.testclient import TestClient

from serve_helpers import KOREAN
from train_helpers import cli_main, one_thread  # noqa: F401 (one_thread: an autouse fixture)

from attnlab.labs.sae.features import FeaturesResult, detail_lines, report, run, shaded
from attnlab.labs.sae.lab import open_browser
from attnlab.labs.sae.settings import FeaturesSettings
from attnlab.serve.api_features import TOKENS
from attnlab.serve.app import asset, make_app, page_html
from attnlab.serve.store import ModelStore


@pytest.mark.slow
def test_features_lists_shows_and_reads_korean(tiny_run, tmp_path, capsys):
    from attnlab.viz.html import read_payload

    capsys.readouterr()
    assert cli_main(["features", "--run", str(tiny_run), "--tokens", "256", "--top", "3"]) == 0
    listing = capsys.readouterr().out
    assert "features: 256" in listing and "neurons: 64" in listing
    assert cli_main(["features", "--run", str(tiny_run), "--tokens", "256", "--feature", "2", "--neurons"]) == 0
    assert "neuron 2:" in capsys.readouterr().out
    assert cli_main(["features", "--run", str(tiny_run), "--tokens", "256", "--text", "민주공화국 First"]) == 0
    rows = capsys.readouterr().out.splitlines()[1:]
    assert [r.split("'")[1] for r in rows][:5] == ["민", "주", "공", "화", "국"]
    page = tmp_path / "f.html"
    assert cli_main(["features", "--run", str(tiny_run), "--tokens", "256", "--html", str(page)]) == 0
    text = page.read_text(encoding="utf-8")
    assert "http://" not in text and "https://" not in text
    data = json.loads(text.split('id="attnlab-data">')[1].split("</script>")[0])
    assert len(data["kinds"]["feature"]["details"]) == 256 and len(data["kinds"]["neuron"]["listing"]) == 64


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


SUMMARY = {"point": "blocks.0.ffwd.hidden", "tokens": 256,
           "feature": {"units": 16, "dead": 2, "median_density": 0.0312, "median_specificity": 0.5},
           "neuron": {"units": 4, "dead": 0, "median_density": 0.5, "median_specificity": None}}
LISTING = [{"unit": 7, "density": 0.25, "specificity": 0.5, "promotes": ["a", " "]}]


def test_the_json_holds_a_detail_and_a_fire_only_when_asked():
    bare = FeaturesResult("sae-x", "feature", SUMMARY, LISTING)
    assert bare.to_json() == {"sae": "sae-x", "kind": "feature", "summary": SUMMARY, "listing": LISTING}
    full = FeaturesResult("sae-x", "feature", SUMMARY, LISTING, detail={"unit": 7}, fire=[], browser=object())
    assert list(full.to_json()) == ["sae", "kind", "summary", "listing", "detail", "fire"]  # never the browser


def test_the_summary_and_the_listing_as_printed():
    assert report(FeaturesResult("sae-x", "feature", SUMMARY, LISTING)) == [
        "sae-x on blocks.0.ffwd.hidden, 256 validation tokens",
        "  features: 16, never active 2, median density 3.12%, median specificity 0.5",
        "  neurons: 4, never active 0, median density 50.00%, median specificity None",
        "the 1 densest features (unit, density, specificity, tokens it promotes):",
        "      7   25.00%  0.5  'a' ' '"]
    fire = [{"token": "a", "units": [{"unit": 3, "value": 1.5}, {"unit": 1, "value": 0.25}]},
            {"token": "b", "units": []}]
    assert report(FeaturesResult("sae-x", "neuron", SUMMARY, LISTING, fire=fire)) == [
        "the neurons most active at each token (sae-x):", "       'a'  3 (1.50), 1 (0.25)", "       'b'  none"]


def test_a_context_is_shaded_in_four_steps_of_the_units_maximum():
    # quarters of the maximum 2: (0, 0.5] ░, (0.5, 1] ▒, (1, 1.5] ▓, (1.5, 2] █; nothing for 0 or less
    assert shaded(["a", "b", "c", "d", "e", "f"], [0.0, 0.5, 1.0, 1.25, 2.0, -1.0], top=2.0, at=1) == \
        "a»b«[░]c[▒]d[▓]e[█]f"
    assert shaded(["a", "b"], [None, 1.0], top=0.0, at=0) == "»a«b"  # no maximum: no shade


def test_one_unit_in_full_as_printed():
    detail = {"kind": "feature", "unit": 7, "density": 0.0125, "specificity": 0.5,
              "histogram": {"max": 2.0, "counts": [4, 2, 0, 1]},
              "contexts": [{"tokens": ["x", "y"], "acts": [2.0, 0.0], "at": 0, "value": 2.0}],
              "promotes": [{"token": "a", "weight": 0.125}], "suppresses": [{"token": "b", "weight": -3.0}]}
    assert detail_lines(detail) == ["feature 7: density 1.250% of tokens, specificity 0.5, max activation 2.000",
                                    "histogram (0 .. max): █▄ ▂", "top contexts (»token«, activation):",
                                    "     2.000  »x«[█]y", "promotes: 'a' +0.125", "suppresses: 'b' -3"]


def test_a_text_needs_the_opened_model():
    with pytest.raises(TypeError, match="need the opened model"):
        run(FeaturesSettings(run="r", text="abc"), lambda kind, info: None)
