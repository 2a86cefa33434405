"""`/api/patch`, the Patch panel's endpoint: `attnlab patch --json`'s tables, its arguments checked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("starlette")

from serve_helpers import Client, train_run  # noqa: E402
from train_helpers import cli_main, one_thread  # noqa: E402,F401 (an autouse fixture)

from attnlab.serve.server import Background  # noqa: E402
from attnlab.serve.store import ModelStore  # noqa: E402

CLEAN, CORRUPT = "First Citizen: h", "All:    Speak, s"


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    runs = tmp_path_factory.mktemp("serve-patch") / "runs"
    train_run(runs, "r", "--n-layers", "2")
    return runs


@pytest.fixture(scope="module")
def lab(runs):
    with Background(ModelStore(runs, minilm=False)) as server:
        yield Client(server.url)


def test_patch_answers_the_clis_tables(lab, runs, capsys):
    status, answer = lab.post("patch", {"run": "r", "clean": CLEAN, "corrupt": CORRUPT})
    assert status == 200, answer
    assert cli_main(["patch", "--run", str(runs / "r"), "--clean", CLEAN, "--corrupt", CORRUPT, "--json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    for key in ("tokens_clean", "tokens_corrupt", "position", "answer", "wrong"):
        assert answer[key] == cli[key], key
    for point in ("resid", "attn", "mlp", "heads"):
        for ours, theirs in zip(answer[point], cli[point], strict=True):
            assert ours == pytest.approx(theirs, abs=1e-6), point
    assert answer == cli  # one run, one to_json(): the same object, number for number
    status, one = lab.post("patch", {"run": "r", "clean": CLEAN, "corrupt": CORRUPT, "points": ["heads"], "position": 15})
    assert status == 200, one
    assert "resid" not in one and one["position"] == 15 and len(one["heads"]) == 2


@pytest.mark.parametrize("body, code", [({"clean": CLEAN, "corrupt": "All"}, "bad_value"),
                                        ({"clean": CLEAN, "corrupt": 5}, "bad_type"),
                                        ({"clean": CLEAN, "corrupt": CORRUPT, "points": ["nope"]}, "bad_value"),
                                        ({"clean": CLEAN, "corrupt": CORRUPT, "position": 16}, "out_of_range"),
                                        ({"clean": CLEAN, "corrupt": CORRUPT, "direction": "up"}, "bad_value")])
def test_bad_requests_are_4xx_with_a_code(lab, body, code):
    status, answer = lab.post("patch", {"run": "r", **body})
    assert 400 <= status < 500 and answer["code"] == code, answer
