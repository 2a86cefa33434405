"""attnlab.labs.ablation.run on a tiny GPT: the per-head table and the set are why/ablate.py's, the
next tokens are the model's own distribution with the heads zeroed, and the report reads them."""

from __future__ import annotations

import pytest
import torch

from why_helpers import TOK, tiny_gpt

from attnlab.errors import UserError
from attnlab.labs.ablation.run import report, run
from attnlab.labs.ablation.settings import AblateSettings
from attnlab.labs.shape import quiet
from attnlab.sources import TextModel
from attnlab.why.ablate import ablate_heads, ablated_forward

TEXT = "abcab hag"


@pytest.fixture
def opened() -> TextModel:
    return TextModel(tiny_gpt().eval(), TOK, "tiny", 16)


def settings(**values) -> AblateSettings:
    return AblateSettings(**{"run": "r", "text": TEXT, **values})


def test_the_table_and_the_set_are_ablate_heads(opened):
    idx = torch.tensor([TOK.encode(TEXT)])
    result = run(settings(heads="0.1,2.0"), quiet, opened=opened)
    assert result.to_json() == ablate_heads(opened.model, idx[:, :-1], idx[:, 1:], together=[(0, 1), (2, 0)])
    assert result.what == f"{len(TEXT) - 1} next-token predictions of the text"
    assert (result.n_layers, result.n_heads) == (3, 2) and len(result.grid()) == 3
    assert result.grid()[2][1] == result.to_json()["heads"][5]["zero"]


def test_without_each_only_the_baseline_and_the_set(opened):
    every = run(settings(heads="1.1"), quiet, opened=opened).to_json()
    quick = run(settings(heads="1.1", each=False), quiet, opened=opened).to_json()
    assert quick == {"baseline_loss": every["baseline_loss"], "set": every["set"]}
    assert run(settings(each=False), quiet, opened=opened).to_json() == {"baseline_loss": every["baseline_loss"]}


def test_next_tokens_with_and_without_the_set(opened):
    idx = torch.tensor([TOK.encode(TEXT)])
    found = run(settings(heads="0.0,1.1", top=4, position=3), quiet, opened=opened).to_json()["next"]
    before = ablated_forward(opened.model, idx, None, [])[0][0, 3].softmax(-1)
    after = ablated_forward(opened.model, idx, None, [(0, 0), (1, 1)])[0][0, 3].softmax(-1)
    assert [t["id"] for t in found["baseline"]] == before.topk(4).indices.tolist()
    assert [t["id"] for t in found["ablated"]] == after.topk(4).indices.tolist()
    assert [t["p"] for t in found["ablated"]] == pytest.approx(after.topk(4).values.tolist(), abs=1e-6)
    assert found["position"] == 3 and found["actual"]["token"] == TEXT[4] == "b"
    assert found["actual"]["ablated"] == pytest.approx(after[TOK.encode("b")[0]].item(), abs=1e-6)
    last = run(settings(top=2), quiet, opened=opened).to_json()["next"]
    assert last["position"] == len(TEXT) - 1 and last["actual"] is None  # nothing follows the last token


@pytest.mark.parametrize("values, words", [({"heads": "3.0"}, "--layer 3"), ({"heads": "0.2"}, "--head 2"),
                                           ({"text": "a"}, "at least two tokens"),
                                           ({"top": 3, "position": 9}, "--position 9 is out of range")])
def test_what_the_model_refuses(opened, values, words):
    with pytest.raises(UserError, match=words):
        run(settings(**values), quiet, opened=opened)


def test_the_report_reads_the_table_the_set_and_the_next_tokens(opened):
    lines = report(run(settings(heads="0.1", top=3), quiet, opened=opened))
    assert lines[0].startswith(f"tiny: head ablation on {len(TEXT) - 1} next-token predictions")
    assert sum(line.split()[:2] in (["0", "0"], ["2", "1"]) for line in lines) == 2  # a row per head
    assert any(line.startswith("most needed: layer") for line in lines)
    assert any(line.startswith("heads 0.1 zeroed together: loss") for line in lines)
    # title, legend, column heads, 6 heads, most needed, the set, the next tokens' title and 3 rows (the last
    # position: no real next token)
    assert len(lines) == 3 + 6 + 1 + 1 + 1 + 3 and lines[-4].startswith("the likeliest next tokens after position 8")
    quick = report(run(settings(heads="", each=False), quiet, opened=opened))
    assert len(quick) == 2 and quick[1].startswith("heads none zeroed together")


def test_run_needs_an_opened_model():
    with pytest.raises(TypeError, match="opened model"):
        run(settings(), quiet)
