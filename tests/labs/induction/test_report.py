"""attnlab.labs.induction.report: the figures and the words the lab prints and writes."""

import torch
from matplotlib.figure import Figure

from train_helpers import one_thread  # noqa: E402,F401 (an autouse fixture)

from attnlab.cli import main
from attnlab.labs.induction.ablation import CausalCheck
from attnlab.labs.induction.config import LabConfig
from attnlab.labs.induction.report import plot_head_scores, plot_model, report, report_markdown, report_paragraphs
from attnlab.labs.induction.results import InductionResult, ModelResult
from attnlab.labs.induction.scores import HeadScores


def test_induction_cli_prints_progress_and_the_report(capsys, tmp_path):
    rc = main(["induction", "--steps", "2", "--eval-interval", "2", "--layers", "1", "--out-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 0
    assert "1-layer model:" in out and "step     2" in out and "report.md" in out


def test_head_score_heatmap_is_a_figure():
    scores = HeadScores(*(torch.rand(2, 3) for _ in range(3)))
    assert isinstance(plot_head_scores(scores, title="t"), Figure)


def heads_row(layer, head, induction, previous, duplicate=0.0):
    return {"layer": layer, "head": head, "previous": previous, "induction": induction, "duplicate": duplicate}


def two_layer_result(formed_at=150, path_removal=None) -> ModelResult:
    """A trained 2-layer model, by hand: head 1.0 inducts, head 0.1 looks one token back."""
    scores = HeadScores(previous=torch.tensor([[0.1, 0.87654], [0.2, 0.3]]),
                        induction=torch.tensor([[0.0, 0.1], [0.912345, 0.4]]), duplicate=torch.zeros(2, 2))
    history = [{"step": step, "loss_ratio": ratio, "heads": [heads_row(0, 0, 0.0, 0.1), heads_row(0, 1, 0.1, prev),
                                                             heads_row(1, 0, ind, 0.2), heads_row(1, 1, 0.4, 0.3)]}
               for step, ratio, ind, prev in ((0, 1.0, 0.05, 0.2), (100, 0.6, 0.3, 0.8), (200, 0.137, 0.91, 0.88))]
    check = CausalCheck(baseline=0.5, detected=[(0, 1), (1, 0)], ablate_detected=2.345678,
                        random_sets=[[(0, 0), (1, 1)]] * 3, random_losses=[0.7, 0.9, 0.6],
                        others_alone={(0, 0): 0.52, (1, 1): 0.9}, path_removal=path_removal)
    return ModelResult(2, history, scores, 3.333333, 0.456789, check, formed_at, 12.4)


def test_the_model_figure_draws_the_best_heads_and_the_loss_ratio():
    fig = plot_model(two_layer_result(), threshold=0.4)
    top, bottom = fig.axes
    lines = {line.get_label(): list(line.get_ydata()) for line in top.get_lines()}
    assert lines["induction score, layer 1 head 0"] == [0.05, 0.3, 0.91]
    assert lines["previous score, layer 0 head 1"] == [0.2, 0.8, 0.88]
    assert lines["duplicate score, layer 0 head 0"] == [0.0, 0.0, 0.0]
    ratio = bottom.get_lines()[0]
    assert list(ratio.get_xdata()) == [0, 100, 200] and list(ratio.get_ydata()) == [1.0, 0.6, 0.137]
    marks = [line for line in bottom.get_lines() if list(line.get_xdata()) == [150, 150]]
    assert len(marks) == 1  # the step the induction head formed
    assert not [line for line in plot_model(two_layer_result(formed_at=None)).axes[1].get_lines()
                if list(line.get_xdata()) == [150, 150]]


def test_a_models_paragraph_says_its_numbers_in_words():
    r = two_layer_result(path_removal={"key": 3.0, "query": 0.5, "value": 0.6})
    [paragraph] = report_paragraphs([r], LabConfig())
    assert paragraph == (
        "2-layer model (12 s): Head 1.0 (layer.head) became an induction head: at the end it puts 91% of its "
        "attention on the token after the earlier copy, and its score first passed 0.4 at step 150. Head 0.1 is the "
        "best previous-token head (88% of its attention on the token just before). On a fresh random sequence "
        "repeated twice, the loss on the second copy is 0.46 nats against 3.33 on the first (14%): the model reads "
        "the answer off the first copy. Zeroing heads 0.1, 1.0 moves the second-copy loss from 0.50 to 2.35 (4.7x); "
        "zeroing as many other heads chosen at random (3 draws, median) moves it to 0.70 (1.40x). Zeroed one at a "
        "time, the other heads that matter are 1.1 (0.90, 1.80x): not induction or previous-token heads, but the "
        "second copy leans on them too; 0.0 is idle (under 1.1x). Removing every layer-0 head's output from the "
        "layer-1 heads' keys only puts the second-copy loss at 3.00 (90% of the first copy's); from their queries "
        "only, 0.50 (15%); from their values only, 0.60 (18%). The induction travels through the keys: a layer-1 "
        "head finds the earlier copy by matching its query against keys that carry each token's predecessor, which "
        "a layer-0 head wrote there (K-composition).")


def test_the_depths_are_compared_when_only_one_formed_a_head():
    one = two_layer_result(formed_at=None)
    one.layers = 1
    paragraphs = report_paragraphs([one, two_layer_result()], LabConfig())
    assert len(paragraphs) == 3
    assert paragraphs[0].startswith("1-layer model (12 s): No head became an induction head: the best induction "
                                    "score is 0.91 (head 1.0), below 0.4.")
    assert "With 2 layers an induction head forms, with 1 it does not" in paragraphs[2]


def test_the_markdown_table_and_the_printed_report():
    cfg = LabConfig(layers=(2,), out_dir="runs/ind")
    r = two_layer_result(path_removal={"key": 3.0, "query": 0.5, "value": 0.6})
    text = report_markdown([r], cfg)
    assert text.startswith("# Induction-head lab\n\nAttention-only GPTs, width 64, 4 heads per layer, vocabulary 32")
    assert ("| 2 | 1.0 (0.91) | 0.1 (0.88) | 3.33 | 0.46 | 2.35 | 0.70 | 150 | 3.00 / 0.50 / 0.60 |\n"
            in text)
    assert text.endswith("![2-layer model](layers-2/induction.png)\n")
    lines = report(InductionResult(cfg, [r], 61.7))
    assert lines[-1] == "wall time 62 s; wrote runs/ind/report.md, summary.json and layers-2/induction.png"
    assert lines[1] == report_paragraphs([r], cfg)[0]
