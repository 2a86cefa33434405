"""runs/metrics.py: records appended and read back, a line cut short by a crash skipped and any
other bad line named, a resume's later lines dropped, and loss.png redrawn at most so often."""

from __future__ import annotations

import json

import pytest

import attnlab.runs.metrics as metrics
from attnlab.errors import UserError
from attnlab.runs.metrics import METRICS, MetricsWriter, plot_losses, read_metrics, truncate_metrics

RECORDS = [{"step": 0, "train_loss": 3.0, "val_loss": 3.1}, {"step": 1, "loss": 2.9, "lr": 1e-3, "dt": 0.01},
           {"step": 2, "loss": 2.5, "lr": 1e-3, "dt": 0.01, "spectrum": [0.5, None, 1]},
           {"step": 2, "train_loss": 2.4, "val_loss": 2.6}]


def written(run_dir) -> MetricsWriter:
    writer = MetricsWriter(run_dir, enabled=True)
    for record in RECORDS:
        writer.write(record)
    writer.close()
    return writer


def test_records_are_read_back_in_order_and_a_disabled_writer_writes_nothing(tmp_path):
    written(tmp_path)
    assert read_metrics(tmp_path) == RECORDS
    assert read_metrics(tmp_path / "nothing") == []
    quiet = tmp_path / "quiet"
    quiet.mkdir()
    for writer in (MetricsWriter(quiet, enabled=False), MetricsWriter(None, enabled=True)):
        writer.write(RECORDS[0], plot=True)
        writer.close()
    assert list(quiet.iterdir()) == []


def test_the_last_line_cut_short_is_skipped_and_any_other_bad_line_is_named(tmp_path):
    written(tmp_path)
    path = tmp_path / METRICS
    with path.open("a") as f:
        f.write('{"step": 3, "loss": 2.')  # a crash mid-line
    assert read_metrics(tmp_path) == RECORDS
    path.write_text('{"step": 0}\nnot json\n{"step": 1}\n')
    with pytest.raises(UserError, match=r"metrics.jsonl, line 2: not JSON"):
        read_metrics(tmp_path)
    for line, words in (('{"loss": 1.0}', "needs an integer 'step', got None"),
                        ('{"step": true}', "needs an integer 'step', got True"),
                        ('{"step": -1}', "got -1"),
                        ('{"step": 1, "loss": "low"}', "'loss' must be a number or a list of numbers, got 'low'"),
                        ('{"step": 1, "loss": [[1]]}', "'loss' must be a number or a list of numbers")):
        path.write_text('{"step": 0}\n' + line + "\n")
        with pytest.raises(UserError, match=f"line 2: .*{words}"):
            read_metrics(tmp_path)
    path.write_bytes(b'{"step": 0}\n\xff\n')
    with pytest.raises(UserError, match="is not UTF-8 text"):
        read_metrics(tmp_path)


def test_a_resume_drops_the_lines_logged_after_its_checkpoint(tmp_path):
    written(tmp_path)
    truncate_metrics(tmp_path, 1)
    assert read_metrics(tmp_path) == RECORDS[:2]
    truncate_metrics(tmp_path / "no-run", 1)  # nothing to cut: nothing happens
    assert not (tmp_path / "no-run").exists()


def test_loss_png_is_drawn_from_the_records_and_not_before_there_are_losses(tmp_path):
    assert plot_losses(tmp_path) is None
    (tmp_path / METRICS).write_text(json.dumps({"step": 0, "lr": 1e-3}) + "\n")
    assert plot_losses(tmp_path) is None and not (tmp_path / "loss.png").exists()
    written(tmp_path)
    assert plot_losses(tmp_path) == tmp_path / "loss.png"
    assert (tmp_path / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_picture_waits_for_its_interval_and_is_drawn_once_more_at_the_end(tmp_path, monkeypatch):
    drawn = []
    monkeypatch.setattr(metrics, "plot_losses", lambda run_dir: drawn.append(run_dir))
    clock = [100.0]
    monkeypatch.setattr(metrics.time, "monotonic", lambda: clock[0])
    writer = MetricsWriter(tmp_path, enabled=True)
    writer.write({"step": 0, "val_loss": 3.0}, plot=True)  # the step-0 evaluation does not hold up the start
    assert drawn == []
    clock[0] += MetricsWriter.PLOT_EVERY_S
    writer.write({"step": 5, "val_loss": 2.0}, plot=True)
    assert drawn == [tmp_path]
    clock[0] += 1.0
    writer.write({"step": 6, "val_loss": 1.9}, plot=True)  # too soon: pending
    writer.write({"step": 7, "loss": 1.8})  # a step never draws
    assert drawn == [tmp_path]
    writer.close()  # the pending drawing
    assert drawn == [tmp_path, tmp_path]
    writer.close()
    assert len(drawn) == 2
