"""attnlab.record / attnlab.intervene on a GPT: names, values checked against independent references."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers is imported: never the network

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

import attnlab
from attnlab.model.attention import MultiHeadAttention
from attnlab.model.gpt import GPT

from record_helpers import BLOCK_POINTS, nothing_attached, randomise_norms_and_biases, tiny_gpt  # noqa: E402


def test_every_documented_name_with_its_shape():
    model = tiny_gpt()
    names = set(attnlab.point_names(model))
    assert names == {"embed", "ln_f", "logits"} | {f"blocks.{i}.{n}" for i in range(2) for n in BLOCK_POINTS}
    B, T, C, H, D, V = 2, 5, 24, 3, 8, 19
    with torch.no_grad(), attnlab.record(model, "**") as rec:
        model(torch.randint(0, V, (B, T)))
    expected = {"embed": (B, T, C), "ln1": (B, T, C), "attn.q": (B, H, T, D), "attn.k": (B, H, T, D),
                "attn.v": (B, H, T, D), "attn.scores": (B, H, T, T), "attn.weights": (B, H, T, T),
                "attn.z": (B, T, H, D), "attn.out": (B, T, C), "resid_mid": (B, T, C), "ln2": (B, T, C),
                "ffwd.hidden": (B, T, 40), "ffwd.out": (B, T, C), "out": (B, T, C), "ln_f": (B, T, C),
                "logits": (B, T, V)}
    for name, value in rec.items():
        assert tuple(value.shape) == expected[name.split(".", 2)[-1] if name.startswith("blocks") else name], name
    order = list(rec)  # forward order
    assert order[0] == "embed" and order[-2:] == ["ln_f", "logits"]
    assert order[1:1 + len(BLOCK_POINTS)] == [f"blocks.0.{n}" for n in BLOCK_POINTS]
    assert torch.isneginf(rec["blocks.0.attn.scores"]).sum() == B * H * T * (T - 1) // 2  # masked, scaled


def test_recorded_values_follow_from_each_other():
    model = tiny_gpt()
    idx = torch.randint(0, 19, (1, 6))
    with attnlab.record(model, "**") as rec:
        logits, _ = model(idx)
    b = model.blocks[1]
    r = lambda n: rec[f"blocks.1.{n}"]  # noqa: E731
    assert_close(r("ln1"), b.ln1(rec["blocks.0.out"]))
    q, k, v = b.attn.project_qkv(r("ln1"))
    assert_close(r("attn.scores"), (q @ k.transpose(-2, -1) / math.sqrt(8)).masked_fill(
        ~torch.ones(6, 6, dtype=torch.bool).tril(), float("-inf")))
    assert_close(r("attn.weights"), F.softmax(r("attn.scores"), dim=-1))
    assert_close(r("attn.z"), (r("attn.weights") @ v).transpose(1, 2))
    assert_close(r("attn.out"), b.attn.proj(r("attn.z").reshape(1, 6, 24)))
    assert_close(r("resid_mid"), rec["blocks.0.out"] + r("attn.out"))
    assert_close(r("out"), r("resid_mid") + r("ffwd.out"))
    assert_close(rec["logits"], logits.detach())
    assert not rec["logits"].requires_grad  # kept detached


def random_hf_gpt2():
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(3)
    config = transformers.GPT2Config(vocab_size=50, n_positions=32, n_embd=24, n_layer=3, n_head=4,
                                     bos_token_id=None, eos_token_id=None)
    config._attn_implementation = "eager"
    hf = transformers.GPT2LMHeadModel(config).eval()
    randomise_norms_and_biases(hf)
    return hf


def test_block_outputs_and_ln_f_equal_hugging_face_hidden_states():
    from attnlab.interop.hf import gpt_from_hf

    hf = random_hf_gpt2()
    ours = gpt_from_hf(hf)
    idx = torch.randint(0, 50, (2, 9))
    with torch.no_grad():
        out = hf(idx, output_hidden_states=True, output_attentions=True)
        with attnlab.record(ours, "embed", "blocks.*.out", "blocks.*.attn.weights", "ln_f") as rec:
            logits, _ = ours(idx)
    hs = out.hidden_states  # embeddings, blocks 0..n-2, then ln_f(block n-1): GPT-2 applies ln_f last
    assert len(hs) == 4
    assert_close(rec["embed"], hs[0], atol=1e-5, rtol=1e-5)
    for i in range(2):
        assert_close(rec[f"blocks.{i}.out"], hs[i + 1], atol=1e-5, rtol=1e-5, msg=f"block {i}")
    assert_close(rec["ln_f"], hs[3], atol=1e-5, rtol=1e-5)
    for i in range(3):
        assert_close(rec[f"blocks.{i}.attn.weights"], out.attentions[i], atol=1e-5, rtol=1e-5)
    assert_close(logits, out.logits, atol=1e-4, rtol=1e-4)


def test_identity_changes_no_logit():
    model = tiny_gpt()
    idx = torch.randint(0, 19, (2, 7))
    with torch.no_grad():
        fast, _ = model(idx)
        with attnlab.intervene(model, {"**": lambda value, name: value}) as names:
            everywhere, _ = model(idx)
        with attnlab.intervene(model, {"blocks.*.out": lambda value, name: value, "embed": lambda v, n: v}):
            outputs, _ = model(idx)
        for block in model.blocks:
            block.attn.use_sdpa = False
        explicit, _ = model(idx)
    assert len(names) == 3 + 2 * len(BLOCK_POINTS)
    assert torch.equal(everywhere, explicit)  # scores/weights force the explicit path, nothing else changes
    assert torch.equal(outputs, fast)  # the fast path, unchanged
    assert_close(everywhere, fast)


def forward_without_attention(model: GPT, idx: torch.Tensor) -> torch.Tensor:
    """The logits of `model` with every head's output set to zero, written from the weights alone:
    attention then contributes only W_O's bias."""
    c = model.config
    sd = {k: v.detach() for k, v in model.state_dict().items()}
    ln = lambda x, p: F.layer_norm(x, (c.d_model,), sd[p + ".weight"], sd[p + ".bias"], c.layer_norm_eps)  # noqa
    gelu = lambda x: 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))  # noqa: E731
    x = sd["token_embedding_table.weight"][idx] + sd["position_embedding_table.weight"][:idx.shape[1]]
    for i in range(c.n_layers):
        p = f"blocks.{i}."
        ffwd = lambda h: gelu(h @ sd[p + "ffwd.up.weight"].T + sd[p + "ffwd.up.bias"]) @ sd[  # noqa: E731
            p + "ffwd.down.weight"].T + sd[p + "ffwd.down.bias"]
        if c.norm == "pre":
            x = x + sd[p + "attn.proj.bias"]
            x = x + ffwd(ln(x, p + "ln2"))
        else:
            x = ln(x + sd[p + "attn.proj.bias"], p + "ln1")
            x = ln(x + ffwd(x), p + "ln2")
    return ln(x, "ln_f") @ sd["lm_head.weight"].T


@pytest.mark.parametrize("norm", ["pre", "post"])
def test_zeroing_every_head_equals_a_forward_without_attention(norm):
    model = tiny_gpt(norm)
    idx = torch.randint(0, 19, (2, 8))

    def zero_heads(z, name):
        for h in range(z.shape[2]):
            z[:, :, h] = 0  # (B, T, H, D): head h
        return z

    with torch.no_grad(), attnlab.intervene(model, {"blocks.*.attn.z": zero_heads}):
        logits, _ = model(idx)
    assert_close(logits, forward_without_attention(model, idx), atol=1e-5, rtol=1e-5)
    with torch.no_grad():
        assert not torch.allclose(model(idx)[0], logits)  # detached again: attention is back
    assert nothing_attached(model)


def count_sdpa(model) -> list[int]:
    """A list that grows by one at each call of the fast path's kernel (every attention's `sdpa`)."""
    calls = []
    for module in model.modules():
        if isinstance(module, MultiHeadAttention):
            module.sdpa = lambda *a, real=module.sdpa, **k: calls.append(1) or real(*a, **k)
    return calls


@pytest.mark.parametrize("patterns, sdpa_calls", [
    ((), 2), (("blocks.*.out", "embed", "logits"), 2), (("**.q", "**.k", "**.v", "**.z", "**.attn.out"), 2),
    (("blocks.1.attn.weights",), 1), (("blocks.*.attn.scores",), 0), (("**",), 0)])
def test_the_fast_path_stays_unless_scores_or_weights_are_asked_for(patterns, sdpa_calls):
    model = tiny_gpt()
    idx = torch.randint(0, 19, (1, 5))
    with torch.no_grad():
        expected, _ = model(idx)
        calls = count_sdpa(model)
        if patterns:
            with attnlab.record(model, *patterns):
                logits, _ = model(idx)
        else:
            logits, _ = model(idx)
    assert len(calls) == sdpa_calls
    assert_close(logits, expected)
