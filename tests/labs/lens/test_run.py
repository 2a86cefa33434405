"""attnlab.labs.lens.run: the lens lab on an opened tiny GPT equals why.lens's table, its top-k
cells are the model's own probabilities, and the printed table by hand."""

from __future__ import annotations

import pytest
import torch

from why_helpers import TOK, tiny_gpt

from attnlab.errors import UserError
from attnlab.labs.lens.run import LensResult, report, run
from attnlab.labs.lens.settings import LensSettings
from attnlab.sources import TextModel
from attnlab.why.lens import Lens, logit_lens


def opened() -> TextModel:
    return TextModel(tiny_gpt().eval(), TOK, "tiny", 16)


def test_the_lab_is_why_lens_table_plus_each_cells_k_best_guesses():
    source = opened()
    result = run(LensSettings(run="runs/tiny", text="bad cafe", k=3), lambda kind, info: None, opened=source)
    idx = torch.tensor([TOK.encode("bad cafe")])
    want = logit_lens(source.model, idx, TOK)
    data = result.to_json()
    assert {k: v for k, v in data.items() if k != "top_k"} == want.to_dict()
    assert result.model == "tiny" and len(data["top_k"]) == 4 and len(data["top_k"][0]) == 8
    with torch.no_grad():
        last = source.model(idx)[0][0].softmax(-1)  # (T, V): the model's own next-token probabilities
    for t in range(8):
        p, ids = last[t].topk(3)
        cell = data["top_k"][-1][t]
        assert [c["token"] for c in cell] == TOK.token_strings(ids.tolist())
        assert [c["p"] for c in cell] == pytest.approx(p.tolist(), abs=1e-6)
        assert cell[0]["token"] == want.top[-1][t] and cell[0]["p"] == want.top_p[-1][t]


def test_the_lab_needs_an_opened_model_and_two_tokens():
    with pytest.raises(TypeError, match="runs on an opened model"):
        run(LensSettings(run="r", text="ab"), lambda kind, info: None)
    with pytest.raises(UserError, match="at least two tokens") as caught:
        run(LensSettings(run="r", text="a"), lambda kind, info: None, opened=opened())
    assert caught.value.code == "too_few_tokens"


def test_the_printed_table_by_hand():
    lens = Lens(tokens=["a", " ", "\n"], layers=["embed", "blocks.0.out"],
                top=[["b", "c", "d"], ["a", "  ", "e"]], top_p=[[0.5, 0.5, 0.5], [0.5, 0.5, 0.5]],
                p_next=[[0.25, 0.5, None], [0.125, 1.0, None]])
    lines = report(LensResult("tiny", lens, []))
    assert lines[0] == "tiny: logit lens of 3 tokens through 1 blocks"
    assert lines[2] == " pos token    next    |        embed blocks.0.out"
    assert lines[3] == "   0 a        ␣       |      b 0.250      a 0.125"
    assert lines[4] == "   1 ␣        \\n      |      c 0.500     ␣␣ 1.000"
    assert lines[5] == "   2 \\n               |      d     -      e     -"
    assert lines[6] == "mean p(next)          |        0.375        0.562"
