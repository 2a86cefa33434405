"""attnlab.labs.ladder.report: the rung table (text and Markdown), the validation curves read from
each run's metrics, the picture's lines and range, and ladder.md."""

from __future__ import annotations

import doctest
import json

import pytest

from attnlab.labs.ladder import report
from attnlab.labs.ladder.report import markdown, markdown_table, plot_ladder, table_rows, text_table, val_curve, \
    write_report


def test_the_worked_example_in_the_docstring():
    result = doctest.testmod(report)
    assert result.attempted > 0 and result.failed == 0


def rung(name, loss, run=""):
    return {"name": name, "added": f"adds {name}", "params": 12345, "val_loss": loss, "seconds": 59.6, "run": run}


def test_delta_is_from_the_last_rung_that_has_a_loss():
    rows = table_rows([rung("a", 2.5), rung("b", None), rung("c", 2.0), rung("d", 2.25)])
    assert rows[0] == ["1", "a", "adds a", "12,345", "2.500", "", "60 s"]
    assert rows[1] == ["2", "b", "adds b", "12,345", "-", "", "60 s"]  # unfinished: no loss, no Δ
    assert [r[5] for r in rows] == ["", "", "-0.500", "+0.250"]  # c against a, d against c


def test_the_text_table_right_aligns_the_numbers_and_markdown_marks_them():
    rows = [["1", "bigram", "a table", "4,900", "2.580", "", "27 s"],
            ["10", "x", "more", "123,456,789", "2.000", "-0.580", "3 s"]]
    lines = text_table(rows).splitlines()
    assert lines[0] == "rung  name    what it adds       params  val loss       Δ  time"
    assert lines[1] == "1     bigram  a table             4,900     2.580          27 s"
    assert lines[2] == "10    x       more          123,456,789     2.000  -0.580   3 s"
    md = markdown_table(rows).splitlines()
    assert md[1] == "| --- | --- | --- | ---: | ---: | ---: | ---: |"
    assert md[3] == "| 10 | x | more | 123,456,789 | 2.000 | -0.580 | 3 s |"


def metrics(folder, evals):
    """A run folder's metrics.jsonl: training lines and the given (step, val_loss) evaluations."""
    folder.mkdir()
    lines = [{"step": s, "loss": 9.0} for s in range(3)] + [{"step": s, "val_loss": v} for s, v in evals]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return str(folder)


def test_each_curve_is_the_runs_evaluations_and_the_range_leaves_out_step_0(tmp_path):
    one = metrics(tmp_path / "1-bigram", [(0, 4.2), (10, 2.6), (20, 2.5)])
    two = metrics(tmp_path / "2-one-head", [(0, 4.1), (10, 2.4), (20, 2.3)])
    assert val_curve(one) == ([0, 10, 20], [4.2, 2.6, 2.5])
    fig = plot_ladder([rung("bigram", 2.5, one), rung("one-head", None, two), rung("none", None, "")], "t")
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.get_lines()] == ["1 bigram (2.500)", "2 one-head"]
    assert list(ax.get_lines()[1].get_ydata()) == [4.1, 2.4, 2.3]
    assert ax.get_ylim() == pytest.approx((2.3 - 0.05, 2.6 + 0.1))  # the losses after step 0 only
    assert ax.get_title() == "t"


def test_ladder_md_names_the_settings_the_table_the_picture_and_the_folders(tmp_path):
    run = metrics(tmp_path / "1-bigram", [(0, 4.2), (10, 2.5)])
    config = {"max_iters": 10, "block_size": 8, "batch_size": 32, "d_model": 32, "learning_rate": 0.01,
              "seed": 1337, "eval_iters": 2, "corpus": "tiny"}
    records = [{**rung("bigram", 2.5, run), "config": config}]
    text = markdown(records, "tiny")
    assert text.startswith("# The ablation ladder on `tiny`\n")
    assert ("(steps 10, block 8, batch 32, width 32, learning rate 0.01, seed 1337, eval batches 2)" in text)
    assert markdown_table(table_rows(records)) in text and "![validation loss of every rung](ladder.png)" in text
    assert "Run folders: `1-bigram/`." in text
    png, md = write_report(tmp_path, records)
    assert md.read_text(encoding="utf-8") == text and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["1-bigram", "ladder.md", "ladder.png"]  # no temp file
