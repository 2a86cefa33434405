"""attnlab.labs.grokking.figures: the four panels hold the numbers they are given (the bars, the
shaded phases, the neurons' points, the loss curves)."""

from __future__ import annotations

import numpy as np
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from attnlab.labs.grokking.figures import plot_grokking


def record(step, train_acc, test_acc, norms, train_loss):
    return {"step": step, "train_acc": train_acc, "test_acc": test_acc, "train_loss": train_loss, "test_loss": 3.0,
            "restricted_loss": 1.0, "excluded_loss": 4.0, "frequency_norms": norms}


HISTORY = [record(0, 0.1, 0.0, [1.0, 2.0, 3.0], 3.0), record(100, 1.0, 0.2, [4.0, 5.0, 6.0], 0.0),
           record(300, 1.0, 1.0, [7.0, 0.5, 0.25], 1e-3)]
SUMMARY = {"p": 7, "memorised_at": 100, "grokked_at": 200}


def spans(ax) -> list[tuple[str, float, float]]:
    """The shaded phases: (label, start, end); the spectrum's bars carry no label."""
    return [(p.get_label(), float(p.get_x()), float(p.get_x() + p.get_width())) for p in ax.patches
            if not p.get_label().startswith("_")]


def test_four_panels_with_the_accuracy_on_a_twin_axis():
    fig = plot_grokking(HISTORY, SUMMARY, [1, 3, 2], [0.9, 0.5, 0.99])
    assert isinstance(fig, Figure) and len(fig.axes) == 5
    loss = fig.axes[0]
    assert loss.get_title() == "a + b mod 7: loss and accuracy" and loss.get_yscale() == "log"
    train = next(line for line in loss.get_lines() if line.get_label() == "train loss")
    assert list(train.get_xdata()) == [0, 100, 300]
    assert list(train.get_ydata()) == [3.0, 1e-12, 1e-3]  # a loss of 0 is drawn at 1e-12 on the log scale


def test_the_phases_are_shaded_between_memorisation_grokking_and_the_end():
    fig = plot_grokking(HISTORY, SUMMARY, [1], [0.5])
    loss, measures = fig.axes[0], fig.axes[1]
    want = [("memorisation", 0.0, 100.0), ("circuit formation", 100.0, 200.0), ("clean-up", 200.0, 300.0)]
    assert spans(loss) == want and spans(measures) == want
    not_grokked = plot_grokking(HISTORY, {**SUMMARY, "grokked_at": None}, [1], [0.5])
    assert spans(not_grokked.axes[0]) == [("memorisation", 0.0, 100.0)]


def test_the_spectrum_bars_are_the_norms_at_memorisation_and_at_the_end():
    fig = plot_grokking(HISTORY, SUMMARY, [1], [0.5])
    bars = [p for p in fig.axes[2].patches if isinstance(p, Rectangle)]
    assert [b.get_height() for b in bars] == [4.0, 5.0, 6.0, 7.0, 0.5, 0.25]
    centres = [b.get_x() + b.get_width() / 2 for b in bars]
    assert np.allclose(centres, [0.8, 1.8, 2.8, 1.2, 2.2, 3.2])
    never = plot_grokking(HISTORY, {**SUMMARY, "memorised_at": None, "grokked_at": None}, [1], [0.5])
    alone = [p for p in never.axes[2].patches if isinstance(p, Rectangle)]
    assert [b.get_height() for b in alone] == [7.0, 0.5, 0.25]  # only the end, full width
    assert np.allclose([b.get_width() for b in alone], 0.8)


def test_each_neuron_is_a_point_at_its_frequency_and_share():
    fig = plot_grokking(HISTORY, SUMMARY, [1, 3, 2], [0.9, 0.5, 0.99])
    neurons = fig.axes[3]
    points = next(c for c in neurons.collections if isinstance(c, PathCollection))
    assert points.get_offsets().tolist() == [[1, 0.9], [3, 0.5], [2, 0.99]]
    assert neurons.get_title() == "3 feed-forward neurons at '='"
