"""attnlab.labs.superposition.report: what `attnlab superposition` prints and draws; the table and
the sentences by hand."""

from __future__ import annotations

import doctest

import pytest
import torch

from superposition_helpers import QUICK, polygon
from train_helpers import one_thread  # noqa: F401 (an autouse fixture)

from attnlab.cli import main
from attnlab.labs.superposition import report
from attnlab.labs.superposition.config import ToyConfig
from attnlab.labs.superposition.lab import Sweep, SweepPoint
from attnlab.labs.superposition.report import describe, mean_dimensionality, table


@pytest.mark.parametrize("module", [report])
def test_the_worked_examples_in_the_docstrings(module):
    assert doctest.testmod(module).failed == 0


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


def point(W, probability=0.5) -> SweepPoint:
    W = torch.tensor(W, dtype=torch.float32)
    return SweepPoint(probability, 0.125, [0.125], 0, W, torch.zeros(W.shape[1]))


def test_each_kind_of_sentence_by_hand():
    assert describe(point([[1.0, 0.0, 0.0], [0.0, 1.0, 0.05]])) == (
        "P = 0.5: 2 of the 3 features get a dimension each (no superposition: their columns are orthogonal); "
        "1 dropped (2).")
    assert describe(point([[0.01, 0.0], [0.0, 0.02]])) == "P = 0.5: no feature is represented (all 2 dropped)."
    # three columns of norm sqrt(2/3) in the plane: ||W||_F² = 2, m / ||W||_F² = 1, a plane spread three ways
    spread = 2 ** 0.5 / 3 ** 0.5 * polygon(3).float()
    assert describe(point(spread.tolist())).startswith(
        "P = 0.5: all 3 features kept, spread over the 2 dimensions but only 2 features' worth in all "
        "(m / ||W||_F² = 1.00: no superposition)")
    # columns 1.2 (1, 0) and 1.2 (0.6, 0.8): ||W||_F² = 2.88, sharing (1.2 · 0.6)² = 0.5184 each
    assert describe(point([[1.2, 0.72], [0.0, 0.96]])) == (
        "P = 0.5: all 2 features in the 2 dimensions, not orthogonal (sharing up to 0.52).")
    assert describe(point([[1.0, 0.0, -0.7, 0.3], [0.0, 1.0, -0.7, 0.0]])) == (
        "P = 0.5: 3 of the 4 features share the 2 dimensions (superposition), neighbours 90°–135° apart; "
        "1 only in part (3: norms 0.30).")


def test_the_table_and_the_mean_dimensionality_by_hand():
    cfg = ToyConfig(features=2, dims=2, probabilities=(0.5,), instances=1, importance=1.0)
    p = point([[1.0, 0.0], [0.0, 0.25]])
    assert mean_dimensionality(p) == 1.0  # one kept feature, alone in its direction
    sweep = Sweep(cfg, [p], 7, True, 0.5)
    lines = table(sweep)
    assert lines[1] == "    0.5    0.1250     1 / 2           1.882     1.000  1.00 0.25   0.00    -"
    text = report.report(sweep)
    assert text[0].replace("\n", " ") == ("2 features squeezed into 2 dimensions, x' = ReLU(WᵀW x + b); all features "
                                          "weigh the same; one start per probability P, 7 Adam steps (0.5 s)")
    assert text[-1] == "\ninterrupted at step 7 of 2000: these are the weights reached so far"
    assert point([[0.0], [0.0]]).represented == [] and mean_dimensionality(point([[0.0], [0.0]])) == 0.0
