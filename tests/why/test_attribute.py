"""Direct logit attribution: the parts sum to LD, and equal a hand computation on a 1-layer model."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from train_helpers import one_thread  # noqa: F401 (an autouse fixture)

from attnlab.config import GPTConfig
from attnlab.errors import UserError
from attnlab.model.gpt import GPT
from attnlab.why.attribute import logit_attribution

IDS = torch.tensor([[3, 1, 4, 1, 5, 9, 2]])


def model_of(**changes) -> GPT:
    torch.manual_seed(2)
    settings = dict(vocab_size=10, max_seq_len=8, d_model=12, n_heads=3, n_layers=1, activation="gelu")
    model = GPT(GPTConfig(**{**settings, **changes})).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(std=0.4)
    return model


def test_parts_are_a_hand_computation_on_one_layer():
    model = model_of()
    b = model.blocks[0]
    C, H, D, T = 12, 3, 4, IDS.shape[1]
    pos, answer, wrong = 5, 7, 2

    def ln(x, m):
        return (x - x.mean(-1, keepdim=True)) / torch.sqrt(x.var(-1, unbiased=False, keepdim=True) + 1e-5) * m.weight + m.bias

    with torch.no_grad():
        embed = model.token_embedding_table.weight[IDS[0]] + model.position_embedding_table.weight[:T]  # (T, C)
        h = ln(embed, b.ln1)
        q, k, v = (h @ w.T + bias for w, bias in zip(b.attn.qkv.weight.split(C), b.attn.qkv.bias.split(C)))
        heads = []
        for i in range(H):
            cols = slice(i * D, (i + 1) * D)
            scores = q[:, cols] @ k[:, cols].T / math.sqrt(D) + torch.full((T, T), float("-inf")).triu(1)
            z = scores.softmax(-1) @ v[:, cols]  # (T, D)
            heads.append(z @ b.attn.proj.weight[:, cols].T)  # (T, C): head i through its columns of W_O
        mid = embed + sum(heads) + b.attn.proj.bias
        mlp = F.gelu(ln(mid, b.ln2) @ b.ffwd.up.weight.T + b.ffwd.up.bias) @ b.ffwd.down.weight.T + b.ffwd.down.bias
        x = mid + mlp  # the final stream, (T, C)
        logits = ln(x, model.ln_f) @ model.lm_head.weight.T
        torch.testing.assert_close(logits, model(IDS)[0][0], atol=1e-5, rtol=0)  # the hand forward is the model's
        u = model.lm_head.weight[answer] - model.lm_head.weight[wrong]
        sigma = torch.sqrt(x[pos].var(unbiased=False) + 1e-5)

        def through(part):  # ln_f's linear part with the forward's scale, then lm_head
            return float(((part - part.mean()) / sigma * model.ln_f.weight) @ u)

        want = [through(embed[pos]), *[through(hd[pos]) for hd in heads], through(b.attn.proj.bias),
                through(mlp[pos]), float(model.ln_f.bias @ u)]
    got = logit_attribution(model, IDS, pos, answer, wrong)
    assert [(p["name"], p["layer"], p["head"]) for p in got["parts"]] == [
        ("embed", None, None), ("head", 0, 0), ("head", 0, 1), ("head", 0, 2), ("attn_bias", 0, None),
        ("mlp", 0, None), ("final_bias", None, None)]
    assert [p["value"] for p in got["parts"]] == pytest.approx(want, abs=1e-5)
    assert got["ld"] == pytest.approx((logits[pos, answer] - logits[pos, wrong]).item(), abs=1e-5)


@pytest.mark.parametrize("changes", [dict(n_layers=3), dict(n_layers=2, norm="none"), dict(n_layers=2, ffn=False),
                                     dict(n_layers=2, attn_proj=False, lm_head_bias=True, tie_weights=False),
                                     dict(n_layers=2, bias=False)])
def test_parts_sum_to_the_logit_difference(changes):
    model = model_of(**changes)
    got = logit_attribution(model, IDS, 6, 1, 8)
    with torch.no_grad():
        logits = model(IDS)[0][0, 6]
    assert got["ld"] == pytest.approx((logits[1] - logits[8]).item(), abs=1e-5)
    assert sum(p["value"] for p in got["parts"]) == pytest.approx(got["ld"], abs=1e-4)
    assert sum(p["name"] == "head" for p in got["parts"]) == model.config.n_layers * 3


@pytest.mark.parametrize("changes, words", [(dict(norm="post"), "post-LN"), (dict(residual=False), "residual")])
def test_models_whose_stream_is_not_a_sum_are_refused(changes, words):
    with pytest.raises(UserError, match=words):
        logit_attribution(model_of(**changes), IDS, 6, 1, 8)
