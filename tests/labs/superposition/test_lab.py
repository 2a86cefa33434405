"""attnlab.labs.superposition.lab: the paper's pictures (a pentagon when sparse, the whole plane or
the two most important features when dense), the `--json` contract and the web lab's answer."""

from __future__ import annotations

import doctest
import json

import pytest
import torch

from superposition_helpers import QUICK
from train_helpers import one_thread  # noqa: F401 (an autouse fixture)

from attnlab.cli import main
from attnlab.labs.superposition import lab, report
from attnlab.labs.superposition.config import ToyConfig
from attnlab.labs.superposition.lab import run_sweep, summary
from attnlab.labs.superposition.model import ToyModel
from attnlab.labs.superposition.train import evaluate


@pytest.mark.parametrize("module", [lab])
def test_the_worked_examples_in_the_docstrings(module):
    assert doctest.testmod(module).failed == 0


@pytest.fixture(scope="module")
def equal_importance():
    """5 features into 2 dimensions, all of equal importance, dense and sparse."""
    torch.set_num_threads(1)
    return run_sweep(ToyConfig(probabilities=(1.0, 0.05), importance=1.0, instances=4, steps=600, seed=0))


def test_sparse_features_form_a_pentagon(equal_importance):
    sparse = equal_importance.points[1]
    assert sparse.probability == 0.05
    assert min(sparse.norms) >= 0.9, sparse.norms
    assert len(sparse.angles) == 5 and all(abs(a - 72.0) <= 5.0 for a in sparse.angles), sparse.angles
    assert report.describe(sparse).endswith("a pentagon.")


def test_dense_equal_features_use_the_whole_plane_as_well_as_keeping_two(equal_importance):
    """With every feature always present and all equally important, keeping features 0 and 1 whole
    (the rest at their mean 0.5, an error of 1/12 each) costs 3/12. But any plane through the five
    does as well in the linear part (the bias takes the means, the rest is isotropic), so nothing
    makes the model pick two: it keeps some plane, W Wᵀ ≈ I (Σ ||W_i||² = 2), at about that loss."""
    dense = equal_importance.points[0]
    torch.testing.assert_close(dense.W @ dense.W.T, torch.eye(2), atol=0.1, rtol=0)
    two = ToyModel(1, 5, 2)
    with torch.no_grad():
        two.W.copy_(torch.eye(2, 5)[None])
        two.b.copy_(torch.tensor([[0.0, 0.0, 0.5, 0.5, 0.5]]))
    keep_two = evaluate(two, torch.ones(1), torch.ones(5), seed=equal_importance.cfg.seed + 1).item()
    assert keep_two == pytest.approx(3 / 12, abs=0.003)
    assert dense.loss == pytest.approx(keep_two, abs=0.005)  # the same samples as the sweep's


def test_dense_features_of_decreasing_importance_keep_the_two_most_important():
    dense = run_sweep(ToyConfig(probabilities=(1.0,), importance=0.9, instances=4, steps=1500, seed=0)).points[0]
    assert dense.represented == [0, 1]
    assert min(dense.norms[:2]) >= 0.9 and max(dense.norms[2:]) <= 0.1, dense.norms
    assert dense.angles == pytest.approx([90.0, 270.0], abs=5.0) or dense.angles == pytest.approx([270.0, 90.0],
                                                                                                  abs=5.0)
    assert dense.losses[dense.best] == min(dense.losses)


def test_json_is_the_contract(capsys):
    assert main(["superposition", "--probability", "1", "0.1", *QUICK, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert sorted(out) == ["dims", "features", "sweep"] and (out["features"], out["dims"]) == (5, 2)
    assert [sorted(p) for p in out["sweep"]] == [["W", "loss", "probability"]] * 2
    assert [p["probability"] for p in out["sweep"]] == [1.0, 0.1]
    assert all(len(p["W"]) == 2 and all(len(row) == 5 for row in p["W"]) for p in out["sweep"])
    again = summary(run_sweep(ToyConfig(probabilities=(1.0, 0.1), steps=30, instances=2)))
    assert out == json.loads(json.dumps(again))  # the same seed, the same weights


def test_the_web_lab_answers_what_the_command_prints(tmp_path, capsys):
    """POST /api/superposition runs the same lab with the same settings: the same JSON as --json."""
    from starlette.testclient import TestClient

    from attnlab.serve.app import make_app
    from attnlab.serve.store import ModelStore

    assert main(["superposition", "--probability", "1", "0.1", *QUICK, "--json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    client = TestClient(make_app(ModelStore(tmp_path, minilm=False), loopback=False))
    answer = client.post("/api/superposition", json={"probabilities": [1, 0.1], "steps": 30, "instances": 2})
    assert answer.status_code == 200, answer.text
    assert answer.json() == cli
    listed = next(p for p in client.get("/api/panels").json()["panels"] if p["name"] == "superposition")
    assert {s["name"]: s["default"] for s in listed["settings"]}["probabilities"] == [1.0, 0.3, 0.1, 0.05]
    for body, status, code in (({"steps": "ten"}, 400, "bad_type"), ({"stepz": 3}, 400, "unknown_setting"),
                               ({"dims": 0}, 400, "bad_input"), ({"steps": 10 ** 7}, 413, "over_budget")):
        got = client.post("/api/superposition", json=body)
        assert (got.status_code, got.json()["code"]) == (status, code), got.text


def point(W, probability=0.5, loss=0.25) -> lab.SweepPoint:
    return lab.SweepPoint(probability, loss, [loss, 2 * loss], 0, torch.tensor(W), torch.zeros(len(W[0])))


def test_a_points_measures_are_its_best_instances_columns():
    p = point([[3.0, 0.0, 0.1], [4.0, 1.0, 0.0]])
    assert p.norms == pytest.approx([5.0, 1.0, 0.1]) and p.represented == [0, 1]
    assert p.dimensions_per_feature == pytest.approx(2 / 26.01)  # m / ||W||_F²
    assert p.angles == pytest.approx([36.87, 323.13], abs=0.01)  # (3, 4) at 53.13°, (0, 1) at 90°
    assert point([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]).angles is None  # three dimensions: no circle


def test_the_json_writes_a_non_finite_number_as_null():
    sweep = lab.Sweep(ToyConfig(features=2, dims=1, probabilities=(0.5,)),
                      [point([[float("nan"), 1.0]], loss=float("inf"))], 3, False, 0.1)
    assert sweep.to_json() == {"features": 2, "dims": 1, "sweep": [{"probability": 0.5, "loss": None,
                                                                     "W": [[None, 1.0]]}]}
    assert json.loads(json.dumps(sweep.to_json())) == sweep.to_json()  # strict JSON
