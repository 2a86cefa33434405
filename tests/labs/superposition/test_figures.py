"""attnlab.labs.superposition.figures: the sticky fractions drawn are those shapes' dimensionalities;
the sweep's and the dimensionality plot's panels hold the numbers they are given."""

from __future__ import annotations

import math

import pytest
import torch

from superposition_helpers import polygon

from attnlab.labs.superposition import figures
from attnlab.labs.superposition.analysis import feature_dimensionality
from attnlab.labs.superposition.config import ToyConfig
from attnlab.labs.superposition.figures import plot_dimensionality, plot_sweep
from attnlab.labs.superposition.lab import Sweep, SweepPoint


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


def sweep_of(*Ws, dims=2) -> Sweep:
    cfg = ToyConfig(features=Ws[0].shape[1], dims=dims, probabilities=tuple(0.5 ** k for k in range(len(Ws))),
                    instances=1)
    points = [SweepPoint(p, 0.125, [0.125], 0, W.float(), torch.zeros(W.shape[1]))
              for p, W in zip(cfg.probabilities, Ws)]
    return Sweep(cfg, points, 10, False, 0.1)


def test_the_sweep_draws_each_column_as_an_arrow_its_gram_matrix_and_its_norms():
    W = 1.5 * polygon(3)
    fig = plot_sweep(sweep_of(W, polygon(3)))
    arrows, gram_ax, bars = fig.axes[0], fig.axes[2], fig.axes[4]  # column 0: arrows, Gram, norms (+ colour bars)
    heads = [a.xy for a in arrows.texts if hasattr(a, "xy")]  # where each arrow points
    assert [v for xy in heads for v in xy] == pytest.approx(W.T.flatten().tolist(), abs=1e-6)
    assert arrows.get_title() == "P = 1: 3 of 3 features"
    image = gram_ax.get_images()[0].get_array()
    assert image.flatten().tolist() == pytest.approx((W.T @ W).flatten().tolist(), abs=1e-6)
    assert [r.get_width() for r in bars.patches] == pytest.approx([1.5, 1.5, 1.5])
    flat = plot_sweep(sweep_of(torch.eye(3)[:, :3], dims=3))  # three dimensions: no arrows
    assert "P = 1" in flat.axes[0].get_title() and not flat.axes[0].texts


def test_the_dimensionality_plot_draws_each_features_d_i_and_m_over_the_frobenius_norm():
    sparse = polygon(5)
    dense = torch.tensor([[1.0, 0.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0, 0.0]], dtype=torch.float64)
    fig = plot_dimensionality(sweep_of(dense, sparse))
    ax = fig.axes[0]
    line = next(line for line in ax.get_lines() if line.get_label().startswith("dimensions per feature"))
    assert list(line.get_xdata()) == [1.0, 2.0]  # 1 / P
    assert list(line.get_ydata()) == pytest.approx([2 / 2, 2 / 5])
    dots = ax.collections[1].get_offsets()  # the second probability's five features
    assert dots[:, 0].tolist() == [2.0] * 5 and dots[:, 1].tolist() == pytest.approx([0.4] * 5)
    assert [round(line.get_ydata()[0], 4) for line in ax.get_lines()[1:]] == [round(v, 4) for v, _, _ in
                                                                              figures.STICKY]
