"""attnlab.labs.superposition.analysis: the measures by hand (norms, Gram matrix, sharing, dimensionality,
angles), the paper's pentagon, antipodal pairs, and invariance when the plane turns."""

from __future__ import annotations

import doctest
import math

import pytest
import torch

from superposition_helpers import polygon
from train_helpers import one_thread  # noqa: F401 (an autouse fixture)

from attnlab.labs.superposition import analysis, lab, report
from attnlab.labs.superposition.analysis import (dimensions_per_feature, feature_dimensionality, feature_norms,
                                                 gram, neighbour_angles, represented, sharing)


@pytest.mark.parametrize("module", [analysis])
def test_the_worked_examples_in_the_docstrings(module):
    assert doctest.testmod(module).failed == 0


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
