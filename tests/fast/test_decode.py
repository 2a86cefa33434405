"""The fast decoding step (fast/decode.py) gives what the reference modules give, for every model switch,
and gives way to the modules when a named point or a PyTorch hook is attached."""

import pytest
import torch
from torch.testing import assert_close

import attnlab
import attnlab.fast
from attnlab import GPT, GPTConfig
from attnlab.fast import decode
from attnlab.generate import sample_next

VARIANTS = [
    dict(),  # GPT-2's: pre-LN, tanh GELU, biases, tied lm_head
    dict(norm="post", activation="relu"),  # seed 003's placement
    dict(norm="none", activation="gelu"),
    dict(bias=False, qkv_bias=True, tie_weights=False, lm_head_bias=True),
    dict(ffn=False),  # attention-only
    dict(residual=False, attn_proj=False),
    dict(norm="post", residual=False, ffn=False),
    dict(norm="none", bias=False, qkv_bias=False, tie_weights=False),
    dict(init="torch", activation="relu", norm="post", attn_proj=False),
    dict(position="sinusoidal", tie_weights=False),
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
    decoder = decode.Decoder(model)
    with torch.inference_mode():
        full, _ = model(idx)  # (B, T, V), no cache at all
        model(idx[:, :3], kv_caches=lean)
        point = through_the_modules(model)
        model(idx[:, :3], kv_caches=modules)
        for t in range(3, 12):
            point.fns.clear()
            assert decoder.plain()
            fast = decoder(idx[:, t:t + 1], lean)  # decode_step
            point.fns.append(lambda value: value)
            assert not decoder.plain()
            slow = decoder(idx[:, t:t + 1], modules)  # the modules
            assert fast.shape == slow.shape == (2, 1, 37)
            assert_close(fast, slow, atol=1e-5, rtol=1e-5)
            assert_close(fast[:, 0], full[:, t], atol=1e-5, rtol=1e-5)
    assert_close(lean[1].k, modules[1].k)  # the same keys and values went into the caches
    assert_close(lean[1].v, modules[1].v)


def unsliced(head: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """The (V, C) weight back from its (P, C, V/P) slices."""
    P, C, width = head.shape
    return head.transpose(1, 2).reshape(P * width, C)[:vocab_size]


def test_the_sliced_head_follows_the_weight_and_the_threads():
    model = model_for()
    threads = torch.get_num_threads()
    try:
        for parts in (1, 2, 3):
            torch.set_num_threads(parts)
            head = decode.decode_head(model)
            assert head.shape == (parts, 24, -(-37 // parts))  # a slice of the vocabulary per thread
            assert torch.equal(unsliced(head, 37), model.lm_head.weight)
            assert not head.transpose(1, 2).reshape(-1, 24)[37:].any()  # the padding is zeros
            assert decode.decode_head(model) is head  # kept while the weight and the threads are unchanged
        with torch.no_grad():
            model.lm_head.weight.mul_(2.0)  # an optimizer step changes it in place
        assert torch.equal(unsliced(decode.decode_head(model), 37), model.lm_head.weight)
        model.load_state_dict({k: v * 3 for k, v in model.state_dict().items()})
        assert torch.equal(unsliced(decode.decode_head(model), 37), model.lm_head.weight)
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("parts", [1, 2, 5])
def test_any_number_of_slices_gives_the_modules_logits(parts):
    model = model_for(tie_weights=False, lm_head_bias=True)
    idx = torch.randint(0, 37, (3, 6))
    caches = model.make_kv_caches(3)
    with torch.inference_mode():
        full, _ = model(idx)  # (B, T, V)
        model(idx[:, :5], kv_caches=caches)
        step = decode.decode_step(model, idx[:, 5:], caches, decode.vocab_slices(model.lm_head.weight, parts))
    assert step.shape == (3, 1, 37)
    assert_close(step[:, 0], full[:, 5], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("options", VARIANTS, ids=[str(v) or "gpt2" for v in VARIANTS])
def test_fast_generation_gives_the_reference_tokens(options):
    """attnlab.fast.generate (the lean step) and GPT.generate (the modules) sample the same tokens
    from the same generator, greedy and sampled, and past the sliding window (16 positions)."""
    model = model_for(**options)
    prompt = torch.randint(0, 37, (2, 3), generator=torch.Generator().manual_seed(5))
    for sampling in (dict(temperature=0.0), dict(temperature=0.9, top_k=20)):
        fast = attnlab.fast.generate(model, prompt, 20, generator=torch.Generator().manual_seed(1), **sampling)
        reference = model.generate(prompt, 20, generator=torch.Generator().manual_seed(1), **sampling)
        assert torch.equal(fast, reference)


def test_training_mode_and_recorded_points_take_the_modules():
    model = model_for(dropout=0.5)
    decoder = decode.Decoder(model)
    assert decoder.plain()
    model.train()
    assert not decoder.plain()  # dropout is on: only the modules apply it
    model.eval()
    with attnlab.record(model, "blocks.0.attn.weights") as rec:
        attnlab.fast.generate(model, torch.zeros(1, 2, dtype=torch.long), 3, temperature=0.0)
    assert len(rec.history["blocks.0.attn.weights"]) == 3  # the prompt and two one-token steps, each seen
    model.blocks[1].attn.use_sdpa = False
    assert not decoder.plain()


def test_pytorch_module_hooks_take_the_modules():
    model = model_for()
    decoder = decode.Decoder(model)
    seen = []
    handle = model.blocks[1].ffwd.register_forward_hook(lambda module, args, out: seen.append(out.shape))
    attnlab.fast.generate(model, torch.zeros(1, 2, dtype=torch.long), 3, temperature=0.0)
    assert seen == [(1, 2, 24), (1, 1, 24), (1, 1, 24)]  # the prompt, then each one-token step
    handle.remove()
    assert decoder.plain()
    handle = torch.nn.modules.module.register_module_forward_pre_hook(lambda module, args: None)
    try:
        assert not decoder.plain()  # a hook for every module
    finally:
        handle.remove()
    assert decoder.plain()


def test_the_step_is_the_function_the_decoder_calls(monkeypatch):
    model = model_for()
    calls, original = [], decode.decode_step
    monkeypatch.setattr("attnlab.fast.decode.decode_step", lambda *a: calls.append(a) or original(*a))
    attnlab.fast.generate(model, torch.zeros(1, 2, dtype=torch.long), 4, temperature=0.0)
    assert len(calls) == 3  # the 2-token prompt through the modules, then a step per token but the last


def test_the_reference_model_never_takes_the_fast_step(monkeypatch):
    """GPT.generate and a one-token forward with caches are the modules alone: the model does not
    know attnlab.fast exists."""
    model = model_for()
    calls, original = [], decode.decode_step
    monkeypatch.setattr("attnlab.fast.decode.decode_step", lambda *a: calls.append(a) or original(*a))
    model.generate(torch.zeros(1, 2, dtype=torch.long), 4, temperature=0.0)
    assert calls == []


def test_other_models_generate_through_their_own_forward():
    bigram = GPT(GPTConfig(vocab_size=7, max_seq_len=8, bigram=True)).eval()
    assert decode.decoder_for(bigram) is None
    prompt = torch.zeros(1, 1, dtype=torch.long)
    assert torch.equal(attnlab.fast.generate(bigram, prompt, 5, temperature=0.0),
                       bigram.generate(prompt, 5, temperature=0.0))


def test_a_block_handed_parts_the_step_does_not_know_runs_through_its_modules():
    """RMSNorm in place of a LayerNorm: decode_step would compute a LayerNorm's formula, so the
    decoder leaves the step to the modules, and the tokens stay the reference's."""
    model = model_for()
    model.blocks[1].ln2 = torch.nn.RMSNorm(24)
    decoder = decode.Decoder(model)
    assert not decoder.plain()
    prompt = torch.zeros(1, 2, dtype=torch.long)
    assert torch.equal(attnlab.fast.generate(model, prompt, 6, temperature=0.0),
                       model.generate(prompt, 6, temperature=0.0))
    assert decode.Decoder(model_for()).plain()
