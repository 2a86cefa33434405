"""attnlab.viz.loss: the loss curve of a run's metrics."""


def test_loss_figure_draws_the_records_it_is_given():
    from attnlab.viz.loss import loss_figure

    assert loss_figure([]) is None and loss_figure([{"step": 0, "lr": 0.1}]) is None
    records = [{"step": 1, "loss": 3.0}, {"step": 2, "loss": 2.5},
               {"step": 2, "train_loss": 2.4, "val_loss": 2.6}]
    lines = {line.get_label(): line for line in loss_figure(records).axes[0].get_lines()}
    assert list(lines["train (batch)"].get_xdata()) == [1, 2]
    assert list(lines["train (batch)"].get_ydata()) == [3.0, 2.5]
    assert list(lines["val (estimate)"].get_ydata()) == [2.6]
    assert lines["val (estimate)"].get_linestyle() == "None"  # fewer than three estimates: points only
