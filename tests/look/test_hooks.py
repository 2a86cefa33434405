"""How record and intervene behave: patterns, nesting, generation, gradients, errors, detaching."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from torch.testing import assert_close

import attnlab
from attnlab.look.hooks import pattern_regex

from record_helpers import nothing_attached, tiny_gpt  # noqa: E402


def zero_head(h: int):
    def fn(z, name):
        z[:, :, h] = 0  # z (B, T, H, D)
        return z

    return fn


@pytest.mark.parametrize("pattern, matches", [
    ("blocks.*.out", ["blocks.0.out", "blocks.1.out"]),
    ("blocks.1.attn.?", ["blocks.1.attn.q", "blocks.1.attn.k", "blocks.1.attn.v", "blocks.1.attn.z"]),
    ("**.weights", ["blocks.0.attn.weights", "blocks.1.attn.weights"]),
    ("blocks.0.**", None), ("ln_f", ["ln_f"]), ("blocks.[0].out", None)])
def test_patterns(pattern, matches):
    names = attnlab.point_names(tiny_gpt())
    found = [n for n in names if pattern_regex(pattern).fullmatch(n)]
    if pattern == "blocks.0.**":
        assert len(found) == 13 and all(n.startswith("blocks.0.") for n in found)
    elif pattern == "blocks.[0].out":  # brackets are literal characters, not a set
        assert found == []
    else:
        assert sorted(found) == sorted(matches)


def test_an_unknown_name_is_an_error_that_lists_real_names():
    model = tiny_gpt()
    with pytest.raises(ValueError, match=r"matches 'blocks\.9\.out'.*blocks\.0\.ln1.*see attnlab\.point_names"):
        with attnlab.record(model, "blocks.0.out", "blocks.9.out"):
            pass
    with pytest.raises(ValueError, match="no point of GPT matches 'blocks.0.attn.wieghts'"):
        with attnlab.intervene(model, {"blocks.0.attn.wieghts": lambda v, n: v}):
            pass
    with pytest.raises(ValueError, match="at least one"):
        with attnlab.record(model):
            pass
    with pytest.raises(ValueError, match="no named points"):
        with attnlab.record(torch.nn.Linear(2, 2), "**"):
            pass
    assert nothing_attached(model)


def test_a_replacement_of_the_wrong_shape_is_an_error_and_everything_is_detached():
    model = tiny_gpt()
    with pytest.raises(ValueError, match=r"blocks.0.attn.z must return a tensor of shape \(1, 4, 3, 8\), got \(1, 4, 24\)"):
        with attnlab.record(model, "**"), attnlab.intervene(model, {"blocks.0.attn.z": lambda z, n: z.flatten(2)}):
            model(torch.randint(0, 19, (1, 4)))
    assert nothing_attached(model)
    with pytest.raises(ValueError, match="got NoneType"):
        with attnlab.intervene(model, {"logits": lambda v, n: None}):
            model(torch.randint(0, 19, (1, 4)))
    assert nothing_attached(model)


def test_detached_on_exit_even_after_an_exception():
    model = tiny_gpt()
    with pytest.raises(RuntimeError, match="boom"):
        with attnlab.record(model, "**") as rec, attnlab.intervene(model, {"**.z": zero_head(0)}):
            model(torch.randint(0, 19, (1, 3)))
            raise RuntimeError("boom")
    assert nothing_attached(model) and len(rec) == 3 + 2 * 13
    with pytest.raises(KeyError, match="'ln_f' was not recorded; recorded: nothing yet"):
        with attnlab.record(model, "ln_f") as empty:
            empty["ln_f"]


def test_nested_contexts_see_each_other_in_the_order_they_were_opened():
    model = tiny_gpt()
    idx = torch.randint(0, 19, (1, 5))
    with torch.no_grad():
        with attnlab.record(model, "blocks.0.attn.z", "logits") as outer:
            with attnlab.intervene(model, {"blocks.0.attn.z": zero_head(1)}):
                with attnlab.record(model, "blocks.0.attn.z") as inner:
                    model(idx)
            model(idx)
            with attnlab.intervene(model, {"blocks.0.attn.z": zero_head(0)}), \
                    attnlab.intervene(model, {"blocks.0.attn.z": zero_head(2)}):
                both, _ = model(idx)
    z_before, z_plain, _ = outer.history["blocks.0.attn.z"]
    assert_close(z_before, z_plain)  # the outer recorder ran before the intervention
    assert (inner["blocks.0.attn.z"][:, :, 1] == 0).all() and (inner["blocks.0.attn.z"][:, :, 0] != 0).all()
    assert not torch.equal(outer.history["logits"][0], outer.history["logits"][1])
    with torch.no_grad(), attnlab.intervene(model, {"blocks.0.attn.z": lambda z, n: zero_head(0)(zero_head(2)(z, n), n)}):
        assert torch.equal(model(idx)[0], both)  # two nested interventions = the two, composed
    assert nothing_attached(model)


def test_kv_cached_generation_records_every_step_and_intervenes_like_uncached():
    model = tiny_gpt()
    prompt = torch.tensor([[1, 2, 3]])
    with attnlab.record(model, "blocks.1.attn.weights", "blocks.0.attn.k") as rec:
        model.generate(prompt, 4, temperature=0)
    assert [tuple(w.shape) for w in rec.history["blocks.1.attn.weights"]] == [
        (1, 3, 3, 3), (1, 3, 1, 4), (1, 3, 1, 5), (1, 3, 1, 6)]  # the prompt, then one query per token
    assert [k.shape[2] for k in rec.history["blocks.0.attn.k"]] == [3, 1, 1, 1]  # new positions only
    ablate = {"blocks.0.attn.z": zero_head(0), "blocks.1.attn.v": lambda v, n: 2 * v}
    runs = {}
    for use_cache, changed in ((True, True), (False, True), (True, False)):
        with attnlab.record(model, "logits") as rec, attnlab.intervene(model, ablate if changed else {"embed": lambda v, n: v}):
            tokens = model.generate(prompt, 5, temperature=0, use_cache=use_cache)
        runs[use_cache, changed] = tokens, torch.stack([x[0, -1] for x in rec.history["logits"]])  # (steps, V)
    (cached, cached_logits), (uncached, uncached_logits) = runs[True, True], runs[False, True]
    assert torch.equal(cached, uncached)
    assert_close(cached_logits, uncached_logits)  # the intervened keys/values are what the cache holds
    assert not torch.allclose(cached_logits, runs[True, False][1])  # and the intervention did change them
    assert nothing_attached(model)


def test_under_no_grad_inference_mode_and_with_gradients():
    model = tiny_gpt().train()
    idx = torch.randint(0, 19, (2, 6))
    with torch.inference_mode(), attnlab.record(model, "blocks.*.out") as rec:
        model(idx)
    assert rec["blocks.1.out"].is_inference() and model.training  # record leaves the mode alone
    with attnlab.record(model, "blocks.0.ffwd.hidden") as rec, \
            attnlab.intervene(model, {"blocks.*.attn.z": zero_head(0)}):  # in place, on the fast path's output
        _, loss = model(idx, targets=idx)
        loss.backward()
    assert not rec["blocks.0.ffwd.hidden"].requires_grad
    assert model.blocks[0].attn.qkv.weight.grad is not None
    assert nothing_attached(model)
