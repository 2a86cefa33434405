"""attnlab.viz.explain_text: an Explanation built here by hand, printed as known text (head, token
row, table, summary, scalar); wide characters aligned; the contribution sentence."""

import torch

from attnlab.explanation import Explanation
from attnlab.look.explain import explain_model
from attnlab.viz.explain_text import contribution_sentence, display_width, fit, format_explanation

from record_helpers import tiny_gpt  # noqa: E402


def toy() -> Explanation:
    ex = Explanation(title="toy", tokens=["a", "나"], head=1)
    w = torch.tensor([[[[1.0, 0.0], [0.25, 0.75]], [[1.0, 0.0], [0.5, 0.5]]]])  # (1, H, T, S): head 1 differs
    ex.add("weights", w, "softmax(scores)", token_dim=2, key_dim=3, head_dim=1)
    ex.add("out", torch.tensor([[1.0, -2.0, 0.5], [0.0, 3.0, 1.25]]), "weights @ v", token_dim=0)
    ex.add("loss", torch.tensor(2.5), "cross-entropy")
    return ex


def test_a_hand_built_explanation_prints_its_head_as_a_table_with_key_labels():
    assert format_explanation(toy()).split("\n") == [
        "toy",
        "tokens: 0:a  1:나",
        "weights  (1, 2, 2, 2)     softmax(scores)  [head 1 shown]",
        "                     0:a     1:나",
        "    0:a            1.000    0.000",
        "    1:나           0.500    0.500",
        "out      (2, 3)           weights @ v",
        "    0:a            1.000   -2.000    0.500",
        "    1:나           0.000    3.000    1.250",
        "loss     ()               cross-entropy",
        "    2.500",
    ]


def test_one_tokens_row_is_key_value_pairs_and_a_vector():
    lines = format_explanation(toy(), token=1, decimals=2).split("\n")
    assert lines[3] == "    1:나: 0:a=0.50  1:나=0.50"
    assert lines[5] == "    1:나: [0.00, 3.00, 1.25]"
    assert lines[7] == "    2.50"


def test_a_wide_tensor_is_summarised_by_its_first_values_mean_and_std():
    ex = Explanation()
    ex.add("big", torch.arange(40.0).view(2, 20), "a range", token_dim=0)  # 0..39: mean 19.5, std 11.54
    assert format_explanation(ex, decimals=1).split("\n")[1] == "    [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, ...]  mean 19.5 std 11.5"


def test_the_contribution_sentence_says_louder_or_quieter():
    ex = Explanation(tokens=["x", "y"])
    ex.add("weights", torch.tensor([[0.8, 0.2]]), "α")
    ex.add("share", torch.tensor([[0.6, 0.4]]), "‖α f(x)‖ share")
    assert contribution_sentence(ex) == (
        "By weight x gets 80.0% of x's attention, but its value vector is quieter: 60.0% of the new x vector "
        "(measured by the length of weight × value) comes from x.")
    ex.tokens = None
    ex.steps[1].value = torch.tensor([[0.1, 0.9]])
    assert contribution_sentence(ex).startswith("By weight token 1 gets 20.0% of token 0's attention, but its "
                                                "value vector is louder: 90.0%")


def test_formatter_summarises_long_tensors_and_selects_a_token():
    model = tiny_gpt()
    ex = explain_model(model, torch.randint(0, 19, (1, 5)), 0, 0, tokens=list("hello"))
    text = format_explanation(ex)
    assert "mean" in text and "std" in text
    assert len(text.splitlines()) < 200  # summarised, not dumped
    lines = format_explanation(ex, token=4).splitlines()
    scores_row = lines[next(i for i, l in enumerate(lines) if l.startswith("blocks.0.attn.scores")) + 1]
    assert scores_row.startswith("    4:o:") and "-inf" not in scores_row  # the last token sees all
    lines = format_explanation(ex, token=0).splitlines()
    assert lines[next(i for i, l in enumerate(lines) if l.startswith("blocks.0.attn.scores")) + 1].count("-inf") == 4


def test_wide_characters_line_up():
    assert display_width("나는 apple") == 10 and display_width("é") == 1
    assert fit("사과를먹었다", 7) == "사과를 " and fit("ab", 4, ">") == "  ab"
    model = tiny_gpt()
    ex = explain_model(model, torch.randint(0, 19, (1, 3)), 0, 0, tokens=["나는", "사과를", "먹었다"])
    lines = format_explanation(ex).splitlines()
    start = next(i for i, l in enumerate(lines) if l.startswith("blocks.0.attn.weights"))
    table = lines[start + 1:start + 5]  # the key labels, then one row per query
    assert [display_width(l) for l in table] == [display_width(table[0])] * 4
    assert table[1].startswith("    0:나는" + " " * 6)  # 12 cells: 6 for the label, 6 of padding
