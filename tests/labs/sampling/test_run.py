"""attnlab.labs.sampling.run on a tiny GPT: generate's samples are the model's own (the same seed,
the same text), streamed piece by piece through progress or a caller's stream; the default prompt
and its note; next_tokens is the distribution sampling draws from, cut as top-k and top-p cut it;
the reports."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from why_helpers import TOK, tiny_gpt

from attnlab.errors import UserError
from attnlab.generate import decode_stream
from attnlab.labs.sampling.run import generate, next_tokens, prompt_ids, report_generate, report_next
from attnlab.labs.sampling.settings import GenerateSettings, NextSettings
from attnlab.labs.shape import quiet
from attnlab.tokenizers.char import CharTokenizer


@pytest.fixture
def opened() -> SimpleNamespace:
    return SimpleNamespace(model=tiny_gpt().eval(), tokenizer=TOK, name="tiny")


def test_the_samples_are_the_models_own_and_stream_as_they_come(opened):
    heard = []
    settings = GenerateSettings(run="r", prompt="abc", max_new_tokens=10, temperature=0.9, top_k=4, seed=7,
                                num_samples=2)
    result = generate(settings, lambda kind, info: heard.append((kind, info)), opened=opened)
    generator = torch.Generator().manual_seed(7)
    idx = torch.tensor([TOK.encode("abc")])
    expected = [TOK.decode(opened.model.generate(idx, 10, temperature=0.9, top_k=4, generator=generator)[0, 3:]
                           .tolist()) for _ in range(2)]  # one generator, drawn on by both samples
    assert result.to_json() == {"prompt": "abc", "samples": expected}
    assert [info for kind, info in heard if kind == "sample"] == [{"index": 0, "prompt": "abc"},
                                                                  {"index": 1, "prompt": "abc"}]
    assert "".join(info["text"] for kind, info in heard if kind == "text") == "".join(expected)
    assert report_generate(result) == ["abc" + expected[0], "-" * 40, "abc" + expected[1]]  # TOK has no newline


def test_a_callers_stream_turns_the_tokens_into_text(opened):
    seen = []

    def stream(tokens, tokenizer, write):
        seen.append(1)
        return decode_stream(tokens, tokenizer, write)

    settings = GenerateSettings(run="r", prompt="ab", max_new_tokens=5, temperature=0.0)
    assert generate(settings, quiet, opened=opened, stream=stream).samples == \
        generate(settings, quiet, opened=opened).samples and seen == [1]


def test_the_default_prompt_and_its_note():
    notes = []
    with_newline = CharTokenizer.train("ab\nc")
    assert prompt_ids(with_newline, None, quiet) == ("\n", with_newline.encode("\n"))
    without = CharTokenizer.train("bca")
    assert prompt_ids(without, None, lambda kind, info: notes.append((kind, info["text"]))) == ("a", [0])
    assert notes[0][0] == "note" and "has no newline" in notes[0][1]
    with pytest.raises(ValueError, match="not in the char vocabulary"):
        prompt_ids(without, "\n", quiet)  # a prompt given is never replaced
    with pytest.raises(UserError, match="the prompt is empty"):
        prompt_ids(without, "", quiet)


def reference_cut(p: torch.Tensor, top_k: int | None, top_p: float | None) -> torch.Tensor:
    """Sort, keep the head, renormalise (tests/serve/test_api.py's reference)."""
    keep, total = torch.zeros_like(p, dtype=torch.bool), 0.0
    for rank, i in enumerate(p.argsort(descending=True).tolist()):
        if (top_k is not None and rank >= top_k) or (top_p is not None and total >= top_p):
            break
        keep[i] = True
        total += p[i].item()
    kept = torch.where(keep, p, torch.zeros_like(p))
    return kept / kept.sum()


@pytest.mark.parametrize("temperature, top_k, top_p", [(1.0, None, None), (0.5, 3, None), (1.5, 0, 0.6)])
def test_next_tokens_is_the_cut_distribution(opened, temperature, top_k, top_p):
    settings = NextSettings(run="r", prompt="abca", temperature=temperature, top_k=top_k, top_p=top_p, n=9)
    data = next_tokens(settings, quiet, opened=opened).to_json()
    with torch.no_grad():
        last = opened.model(torch.tensor([TOK.encode("abca")]))[0][0, -1].double()
    p = (last / temperature).softmax(-1)
    kept = reference_cut(p, top_k or None, top_p)
    assert data["kept"] == int((kept > 0).sum()) and data["vocab"] == TOK.vocab_size == len(data["bars"])
    assert [bar["id"] for bar in data["bars"]] == p.argsort(descending=True).tolist()
    for bar in data["bars"]:
        assert bar["p"] == pytest.approx(p[bar["id"]].item(), abs=2e-6)
        assert bar["kept"] == bool(kept[bar["id"]] > 0)
        assert bar["p_kept"] == pytest.approx(kept[bar["id"]].item(), abs=2e-6)
    assert (data["temperature"], data["top_k"], data["top_p"]) == (temperature, top_k, top_p)


def test_next_at_temperature_0_and_1e_300_is_greedy(opened):
    for temperature in (0.0, 1e-300):
        data = next_tokens(NextSettings(run="r", prompt="abca", temperature=temperature, n=3), quiet,
                           opened=opened).to_json()
        assert data["kept"] == 1 and [bar["p_kept"] for bar in data["bars"]] == [1.0, 0.0, 0.0]


def test_the_next_report(opened):
    result = next_tokens(NextSettings(run="r", prompt="abca", top_k=2, n=4), quiet, opened=opened)
    lines = report_next(result)
    assert lines[0] == "tiny: the next token after 'abca', temperature 0.8, top-k 2, top-p all"
    assert lines[1].startswith(f"2 of {TOK.vocab_size} tokens kept, ")
    assert len(lines) == 3 + 4 and [line.split()[-1] for line in lines[5:]] == ["cut", "cut"]
    greedy = report_next(next_tokens(NextSettings(run="r", prompt="abca", temperature=0.0, n=2), quiet,
                                     opened=opened))
    assert greedy[0].endswith("greedy: only the top token")


def test_the_runs_need_an_opened_model():
    with pytest.raises(TypeError, match="opened model"):
        generate(GenerateSettings(run="r"), quiet)
    with pytest.raises(TypeError, match="opened model"):
        next_tokens(NextSettings(run="r"), quiet)
