"""The lean decoding step (model/decode.py) gives what the modules give, for every block variant."""

import pytest
import torch
from torch.testing import assert_close

from attnlab import GPT, GPTConfig
from attnlab.generate import sample_next
from attnlab.model import decode

VARIANTS = [
    dict(),  # GPT-2's: pre-LN, tanh GELU, biases, tied lm_head
    dict(norm="post", activation="relu"),  # seed 003's placement
    dict(norm="none", activation="gelu"),
    dict(bias=False, qkv_bias=True, tie_weights=False, lm_head_bias=True),
    dict(ffn=False),  # attention-only
    dict(residual=False, attn_proj=False),
    dict(norm="post", residual=False, ffn=False),
]


def model_for(**options) -> GPT:
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=37, max_seq_len=16, d_model=24, n_heads=3, n_layers=2, **options)).eval()


def through_the_modules(model: GPT):
    """A no-op attached to `logits`: the forward then takes the modules' path."""
    point = model.points.logits
    point.fns.append(lambda value: value)
    return point


@pytest.mark.parametrize("options", VARIANTS, ids=[str(v) or "gpt2" for v in VARIANTS])
def test_each_step_equals_the_modules_and_the_full_forward(options):
    model = model_for(**options)
    idx = torch.randint(0, 37, (2, 12))
    lean, modules = model.make_kv_caches(2), model.make_kv_caches(2)
    with torch.inference_mode():
        full, _ = model(idx)  # (B, T, V), no cache at all
        model(idx[:, :3], kv_caches=lean)
        point = through_the_modules(model)
        model(idx[:, :3], kv_caches=modules)
        for t in range(3, 12):
            point.fns.clear()
            assert model._plain_decoding()
            fast, _ = model(idx[:, t:t + 1], kv_caches=lean)  # decode_step
            point.fns.append(lambda value: value)
            assert not model._plain_decoding()
            slow, _ = model(idx[:, t:t + 1], kv_caches=modules)  # the modules
            assert fast.shape == slow.shape == (2, 1, 37)
            assert_close(fast, slow, atol=1e-5, rtol=1e-5)
            assert_close(fast[:, 0], full[:, t], atol=1e-5, rtol=1e-5)
    assert_close(lean[1].k, modules[1].k)  # the same keys and values went into the caches
    assert_close(lean[1].v, modules[1].v)


def test_the_laid_out_head_follows_the_weight():
    model = model_for()
    head = model.decode_head()
    assert head.shape == (24, 37) and torch.equal(head, model.lm_head.weight.t())
    assert model.decode_head() is head  # kept while the weight is unchanged
    with torch.no_grad():
        model.lm_head.weight.mul_(2.0)  # an optimizer step changes it in place
    assert torch.equal(model.decode_head(), model.lm_head.weight.t())
    model.load_state_dict({k: v * 3 for k, v in model.state_dict().items()})
    assert torch.equal(model.decode_head(), model.lm_head.weight.t())


def test_training_mode_and_recorded_points_take_the_modules():
    import attnlab

    model = model_for(dropout=0.5)
    assert model._plain_decoding()
    model.train()
    assert not model._plain_decoding()  # dropout is on: only the modules apply it
    model.eval()
    with attnlab.record(model, "blocks.0.attn.weights") as rec:
        model.generate(torch.zeros(1, 2, dtype=torch.long), 3, temperature=0.0)
    assert len(rec.history["blocks.0.attn.weights"]) == 3  # the prompt and two one-token steps, each seen
    model.blocks[1].attn.use_sdpa = False
    assert not model._plain_decoding()


def test_the_step_is_the_function_the_forward_calls(monkeypatch):
    model = model_for()
    calls = []
    monkeypatch.setattr("attnlab.model.gpt.decode_step", lambda *a: calls.append(a) or decode.decode_step(*a))
    model.generate(torch.zeros(1, 2, dtype=torch.long), 4, temperature=0.0)
    assert len(calls) == 3  # the 2-token prompt through the modules, then a step per token but the last


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_logits_are_refused_however_they_sit(bad):
    logits = torch.zeros(2, 50257)
    logits[1, 31337] = bad
    with pytest.raises(ValueError, match="logits are not finite"):
        sample_next(logits)
    with pytest.raises(ValueError, match="logits are not finite"):
        sample_next(logits, temperature=0.8, top_k=5)
