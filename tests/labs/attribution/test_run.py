"""attnlab.labs.attribution.run on a tiny GPT: the parts are why/attribute.py's, the default answer
and wrong tokens the model's two likeliest, and the report reads them."""

from __future__ import annotations

import pytest
import torch

from why_helpers import TOK, tiny_gpt

from attnlab.errors import UserError
from attnlab.labs.attribution.run import part_label, report, run
from attnlab.labs.attribution.settings import AttributeSettings
from attnlab.labs.shape import quiet
from attnlab.sources import TextModel
from attnlab.why.attribute import logit_attribution

TEXT = "abcab hag"


@pytest.fixture
def opened() -> TextModel:
    return TextModel(tiny_gpt().eval(), TOK, "tiny", 16)


def settings(**values) -> AttributeSettings:
    return AttributeSettings(**{"run": "r", "text": TEXT, **values})


def test_the_parts_are_logit_attribution_with_the_tokens_named(opened):
    idx = torch.tensor([TOK.encode(TEXT)])
    a, w = TOK.encode("h")[0], TOK.encode(" ")[0]
    result = run(settings(answer="h", wrong=" ", position=-3), quiet, opened=opened)
    assert result.to_json() == {"text": TEXT, **logit_attribution(opened.model, idx, 6, a, w), "answer": "h",
                                "wrong": TOK.token_strings([w])[0]}
    assert list(result.to_json()) == ["text", "position", "answer", "wrong", "ld", "parts"]
    assert result.token == TEXT[6] and result.to_json()["position"] == 6
    heads = result.heads()  # layers x heads, each the head's part
    assert len(heads) == 3 and heads[1][0] == next(p["value"] for p in result.to_json()["parts"]
                                                   if p["name"] == "head" and (p["layer"], p["head"]) == (1, 0))


def test_the_default_answer_and_wrong_are_the_two_likeliest(opened):
    idx = torch.tensor([TOK.encode(TEXT)])
    with torch.no_grad():
        ranked = opened.model(idx)[0][0, -1].argsort(descending=True).tolist()
    data = run(settings(), quiet, opened=opened).to_json()
    assert (data["answer"], data["wrong"]) == tuple(TOK.token_strings(ranked[:2]))
    assert data["ld"] > 0  # the top token over the second
    data = run(settings(answer=TOK.token_strings(ranked[:1])[0]), quiet, opened=opened).to_json()
    assert data["wrong"] == TOK.token_strings(ranked[1:2])[0]  # the likeliest other than the answer
    with pytest.raises(UserError, match="the same token"):  # the answer is the top token, whatever wrong is
        run(settings(wrong=TOK.token_strings(ranked[:1])[0]), quiet, opened=opened)


@pytest.mark.parametrize("values, words", [({"answer": "a", "wrong": "a"}, "the same token"),
                                           ({"position": 9}, "--position 9 is out of range"),
                                           ({"answer": "ab"}, "--answer 'ab' is 2 tokens"),
                                           ({"text": ""}, "empty")])
def test_what_the_run_refuses(opened, values, words):
    with pytest.raises(UserError, match=words):
        run(settings(**values), quiet, opened=opened)


def test_a_post_ln_model_is_refused():
    with pytest.raises(UserError, match="post-LN"):
        run(settings(), quiet, opened=TextModel(tiny_gpt(norm="post").eval(), TOK, "tiny", 16))


def test_the_report_lists_every_part_and_their_sum(opened):
    result = run(settings(answer="h", wrong="a"), quiet, opened=opened)
    lines = report(result)
    assert lines[0].startswith("tiny: direct logit attribution at position 8 ('g'): LD = logit['h'] - logit['a']")
    parts = result.to_json()["parts"]
    assert [line.split()[0] if not line.lstrip().startswith("head") else line.split()[1] for line in lines[2:-2]] == \
        [part_label(p).split()[-1] if p["name"] == "head" else p["name"] for p in parts]
    assert lines[-2].split() == ["sum", f"{result.to_json()['ld']:+.3f}"]
    assert lines[-1].startswith("largest: ") and lines[-1].count("(") == 3
    assert part_label({"name": "mlp", "layer": 2, "head": None}) == "mlp 2"


def test_run_needs_an_opened_model():
    with pytest.raises(TypeError, match="opened model"):
        run(settings(), quiet)
