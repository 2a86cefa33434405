"""The superposition lab: the measures against hand computations, the data and the model against
plain loops, the paper's pictures (a pentagon when sparse, two features when dense), the command."""

from __future__ import annotations

import doctest
import json
import math

import pytest
import torch

from train_helpers import copy_workspace, one_thread, snapshot  # noqa: F401 (one_thread: an autouse fixture)

from attnlab.cli import main
from attnlab.labs.superposition import analysis, data, figures, lab, model, report
from attnlab.labs.superposition.analysis import (dimensions_per_feature, feature_dimensionality, feature_norms,
                                                 gram, neighbour_angles, represented, sharing)
from attnlab.labs.superposition.config import ToyConfig
from attnlab.labs.superposition.data import importance_weights, sparse_features
from attnlab.labs.superposition.lab import run_sweep, summary
from attnlab.labs.superposition.model import ToyModel
from attnlab.labs.superposition.train import evaluate, train_toy, weighted_error


def polygon(k: int, radius: float = 1.0, start_deg: float = 0.0) -> torch.Tensor:
    """(2, k): k unit columns at equal angles round the circle."""
    angles = torch.tensor([math.radians(start_deg + 360.0 * i / k) for i in range(k)], dtype=torch.float64)
    return radius * torch.stack([torch.cos(angles), torch.sin(angles)])


@pytest.mark.parametrize("module", [analysis, data, lab, model, report])
def test_the_worked_examples_in_the_docstrings(module):
    assert doctest.testmod(module).failed == 0


# --- the measures, by hand ------------------------------------------------------------------------------------

def test_norms_gram_sharing_and_dimensionality_of_three_features_in_a_plane():
    # columns (1, 0), (0, 1), (1.2, 1.6): the third has norm 2 and direction (0.6, 0.8)
    W = torch.tensor([[1.0, 0.0, 1.2], [0.0, 1.0, 1.6]], dtype=torch.float64)
    torch.testing.assert_close(feature_norms(W), torch.tensor([1.0, 1.0, 2.0], dtype=torch.float64))
    torch.testing.assert_close(gram(W), torch.tensor([[1.0, 0.0, 1.2], [0.0, 1.0, 1.6], [1.2, 1.6, 4.0]],
                                                     dtype=torch.float64))
    # sharing_0 = (Ŵ_0·W_1)² + (Ŵ_0·W_2)² = 0 + 1.2²; sharing_2 = (0.6·1)² + (0.8·1)² = 1
    torch.testing.assert_close(sharing(W), torch.tensor([1.44, 2.56, 1.0], dtype=torch.float64))
    # D_i = ||W_i||² / (||W_i||² + sharing_i)
    torch.testing.assert_close(feature_dimensionality(W), torch.tensor([1 / 2.44, 1 / 3.56, 4 / 5],
                                                                       dtype=torch.float64))
    assert dimensions_per_feature(W) == pytest.approx(2 / 6)
    third = math.degrees(math.atan2(1.6, 1.2))  # 53.13°: the third column's angle, between the first two
    assert represented(W) == [0, 1, 2] and neighbour_angles(W) == pytest.approx([third, 90 - third, 270.0])


def test_a_regular_pentagon_gives_the_papers_two_fifths():
    W = polygon(5)[:, torch.tensor([3, 0, 4, 1, 2])]  # columns out of order: the angles go round the circle
    # sharing_i = 2 cos²72° + 2 cos²144° = 1.5, so D_i = 1 / 2.5
    torch.testing.assert_close(sharing(W), torch.full((5,), 1.5, dtype=torch.float64))
    torch.testing.assert_close(feature_dimensionality(W), torch.full((5,), 0.4, dtype=torch.float64))
    assert dimensions_per_feature(W) == pytest.approx(0.4)
    assert neighbour_angles(W) == pytest.approx([72.0] * 5)


def test_the_sticky_fractions_drawn_in_the_dimensionality_plot_are_those_shapes_dimensionalities():
    z = 1 / math.sqrt(3)  # the square antiprism's height that makes its 8 columns a tight frame
    antiprism = torch.tensor([[math.sqrt(2 / 3) * math.cos(math.radians(45 * k)),
                               math.sqrt(2 / 3) * math.sin(math.radians(45 * k)), z if k % 2 else -z]
                              for k in range(8)], dtype=torch.float64).T  # (3, 8)
    tetrahedron = torch.tensor([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype=torch.float64).T * z
    shapes = {"1:": torch.eye(3, dtype=torch.float64), "3/4:": tetrahedron, "2/3:": polygon(3),
              "1/2:": torch.tensor([[1.0, -1.0]], dtype=torch.float64), "2/5:": polygon(5), "3/8:": antiprism}
    for value, text, _ in figures.STICKY:
        W = shapes[text.split()[0]]
        torch.testing.assert_close(feature_dimensionality(W), torch.full((W.shape[1],), value, dtype=torch.float64))


def test_antipodal_pairs_and_dropped_features():
    W = torch.tensor([[1.0, -1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, -1.0, 0.01]], dtype=torch.float64)
    assert represented(W) == [0, 1, 2, 3] and neighbour_angles(W) == pytest.approx([90.0] * 4)
    # feature 4 (norm 0.01) lies along 2 and 3: it shares their direction fully, and they its a little
    torch.testing.assert_close(sharing(W), torch.tensor([1.0, 1.0, 1.0001, 1.0001, 2.0], dtype=torch.float64))
    W[:, 4] = 0.0  # a zero column: no direction, so it shares nothing and has no dimensionality
    torch.testing.assert_close(feature_dimensionality(W), torch.tensor([0.5, 0.5, 0.5, 0.5, 0.0], dtype=torch.float64))
    assert sharing(W)[4] == 0.0
    point = lab.SweepPoint(0.3, 0.0, [0.0], 0, W.float(), torch.zeros(5))
    assert report.antipodal_pairs(point) == [(0, 1), (2, 3)]


def test_the_measures_do_not_change_when_the_plane_turns():
    W = torch.randn(2, 7, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    turn = torch.tensor([[math.cos(1.0), -math.sin(1.0)], [math.sin(1.0), math.cos(1.0)]], dtype=torch.float64)
    for measure in (feature_norms, gram, sharing, feature_dimensionality):
        torch.testing.assert_close(measure(turn @ W), measure(W))
    assert sorted(neighbour_angles(turn @ W)) == pytest.approx(sorted(neighbour_angles(W)))
    assert sum(neighbour_angles(W)) == pytest.approx(360.0)


def test_angles_round_the_circle_need_two_dimensions():
    with pytest.raises(ValueError, match="2 dimensions"):
        neighbour_angles(torch.eye(3))


# --- data, model, loss ------------------------------------------------------------------------------------------

def test_sparse_features_are_present_with_probability_p_and_uniform_when_present():
    probability = torch.tensor([1.0, 0.3, 0.05])
    x = sparse_features(probability, 20000, 5, torch.Generator().manual_seed(0))  # (3, 20000, 5)
    present = (x > 0).float().mean(dim=(1, 2))
    torch.testing.assert_close(present, probability, atol=0.01, rtol=0)
    for k in range(3):
        values = x[k][x[k] > 0]
        assert values.max() < 1.0 and values.mean().item() == pytest.approx(0.5, abs=0.02)
        assert (values < 0.25).float().mean().item() == pytest.approx(0.25, abs=0.03)  # uniform, not just centred
    torch.testing.assert_close(importance_weights(3, 0.9), torch.tensor([1.0, 0.9, 0.81]))


def test_the_model_is_relu_of_wt_w_x_plus_b_for_each_instance():
    generator = torch.Generator().manual_seed(0)
    toy = ToyModel(3, 5, 2, generator)
    with torch.no_grad():
        toy.b.copy_(torch.randn(3, 5, generator=generator))
    x = torch.rand(3, 4, 5, generator=generator)
    out = toy(x)
    for k in range(3):
        for s in range(4):
            W, b = toy.W[k], toy.b[k]
            torch.testing.assert_close(out[k, s], torch.relu(W.T @ (W @ x[k, s]) + b))
    importance = torch.tensor([1.0, 0.5, 0.25, 0.1, 0.0])
    expected = torch.stack([sum(importance @ (x[k, s] - out[k, s]) ** 2 for s in range(4)) / 4 for k in range(3)])
    torch.testing.assert_close(weighted_error(x, out, importance), expected)


def test_instances_train_independently():
    """Instance 1 alone, trained from the same start on the same samples, ends where it does in the batch."""
    cfg = ToyConfig(probabilities=(0.1,), instances=3, steps=30)
    together, probability, _ = train_toy(cfg)
    generator = torch.Generator().manual_seed(cfg.seed)  # as train_toy draws: the starts, then the batches
    start = ToyModel(3, cfg.features, cfg.dims, generator)
    alone = ToyModel(1, cfg.features, cfg.dims)
    with torch.no_grad():
        alone.W.copy_(start.W[1:2])
    optimizer = torch.optim.Adam(alone.parameters(), lr=cfg.lr)
    importance = importance_weights(cfg.features, cfg.importance)
    for _ in range(cfg.steps):
        x = sparse_features(probability, cfg.batch_size, cfg.features, generator)[1:2]  # instance 1's samples
        weighted_error(x, alone(x), importance).sum().backward()
        optimizer.step()
        optimizer.zero_grad()
    torch.testing.assert_close(together.W[1], alone.W[0].detach(), atol=1e-5, rtol=0)
    torch.testing.assert_close(together.b[1], alone.b[0].detach(), atol=1e-5, rtol=0)


# --- the paper's pictures ---------------------------------------------------------------------------------------

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


# --- the command ------------------------------------------------------------------------------------------------

QUICK = ["--steps", "30", "--instances", "2", "--no-progress"]


def test_json_is_the_contract(capsys):
    assert main(["superposition", "--probability", "1", "0.1", *QUICK, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert sorted(out) == ["dims", "features", "sweep"] and (out["features"], out["dims"]) == (5, 2)
    assert [sorted(p) for p in out["sweep"]] == [["W", "loss", "probability"]] * 2
    assert [p["probability"] for p in out["sweep"]] == [1.0, 0.1]
    assert all(len(p["W"]) == 2 and all(len(row) == 5 for row in p["W"]) for p in out["sweep"])
    again = summary(run_sweep(ToyConfig(probabilities=(1.0, 0.1), steps=30, instances=2)))
    assert out == json.loads(json.dumps(again))  # the same seed, the same weights


def test_the_report_and_the_pictures(tmp_path, capsys):
    assert main(["superposition", "--probability", "1", "0.05", *QUICK, "--png", str(tmp_path / "sweep.png")]) == 0
    out = capsys.readouterr().out
    assert "5 features squeezed into 2 dimensions" in out and "P = 0.05:" in out
    assert (tmp_path / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["superposition", "--dimensionality", "--features", "12", "--dims", "3", "--probability", "1", "0.1",
                 *QUICK, "--png", str(tmp_path / "dim.svg")]) == 0
    assert "12 features squeezed into 3 dimensions" in capsys.readouterr().out
    assert (tmp_path / "dim.svg").read_text().lstrip().startswith("<?xml")
    three = tmp_path / "three.svg"
    assert main(["superposition", "--dims", "3", "--probability", "0.1", *QUICK, "--png", str(three)]) == 0
    assert "<svg" in three.read_text()  # no plane to draw arrows in: the Gram matrix and norms


# (id, argv, what the error line must say)
BAD = [
    ("superposition-features-zero", ["superposition", "--features", "0"], "--features"),
    ("superposition-dims-zero", ["superposition", "--dims", "0"], "--dims"),
    ("superposition-probability-zero", ["superposition", "--probability", "0"], "--probability"),
    ("superposition-probability-above-one", ["superposition", "--probability", "1", "1.5"], "--probability"),
    ("superposition-probability-nan", ["superposition", "--probability", "nan"], "--probability"),
    ("superposition-probability-text", ["superposition", "--probability", "often"], "invalid float"),
    ("superposition-importance-zero", ["superposition", "--importance", "0"], "--importance"),
    ("superposition-importance-negative", ["superposition", "--importance", "-0.9"], "--importance"),
    ("superposition-importance-inf", ["superposition", "--importance", "inf"], "--importance"),
    ("superposition-importance-underflow", ["superposition", "--features", "100", "--importance", "0.01"],
     "--importance"),
    ("superposition-importance-huge", ["superposition", "--importance", "1e300"], "--importance"),
    ("superposition-memory", ["superposition", "--features", "100000000", "--importance", "1"], "memory"),
    ("superposition-steps-zero", ["superposition", "--steps", "0"], "--steps"),
    ("superposition-instances-zero", ["superposition", "--instances", "0"], "--instances"),
    ("superposition-batch-zero", ["superposition", "--batch-size", "0"], "--batch-size"),
    ("superposition-lr-negative", ["superposition", "--lr", "-1"], "--lr"),
    ("superposition-seed-negative", ["superposition", "--seed", "-1"], "--seed"),
    ("superposition-threads", ["superposition", "--threads", "-2"], "--threads"),
    ("superposition-png-missing-folder", ["superposition", "--png", "nope/p.png"], "does not exist"),
    ("superposition-png-is-a-folder", ["superposition", "--png", "sub"], "directory"),
    ("superposition-png-suffix", ["superposition", "--png", "p.xyz"], ".xyz"),
]


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    ws = tmp_path_factory.mktemp("workspace")
    (ws / "notes.txt").write_text("mine\n", encoding="utf-8")
    (ws / "sub").mkdir()
    (ws / "sub" / "keep.png").write_bytes(b"not attnlab's")
    return ws


@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_bad_input_is_one_line_and_loses_nothing(template, tmp_path, monkeypatch, capsys, case):
    _, argv, words = case
    ws = copy_workspace(template, tmp_path, monkeypatch)
    before = snapshot(ws)
    try:
        code = main([*argv, "--no-progress"])
    except SystemExit as exc:  # argparse's own exit, after its one line
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("attnlab: error:") and words in lines[0], err
    assert "Traceback" not in err
    assert snapshot(ws) == before


# --- the web lab --------------------------------------------------------------------------------------------------

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
