"""attnlab.viz.weights: every form of attention weights becomes one (L, H, T, S) stack, bad ones
are refused by what is wrong; token labels are made visible."""

import numpy as np
import pytest
import torch

from attnlab.viz import attention_stack
from attnlab.viz.weights import visible

from viz_helpers import HOSTILE, softmax_maps  # noqa: E402


def test_stack_accepts_every_form():
    w = softmax_maps(2, 3, 4)
    toks = list("abcd")
    assert attention_stack(w[0, 0], toks).weights.shape == (1, 1, 4, 4)
    assert attention_stack(w[0].numpy(), toks).weights.shape == (1, 3, 4, 4)
    captured = {"blocks.0.attn": w[:1], "blocks.1.attn": w[1:]}  # capture_attention: (1, H, T, S)
    stack = attention_stack(captured, toks)
    assert stack.layer_names == ["blocks.0.attn", "blocks.1.attn"]
    np.testing.assert_allclose(stack.weights, w.numpy(), atol=1e-7)
    hf = tuple(w[i:i + 1] for i in range(2))  # Hugging Face output_attentions
    assert attention_stack(hf, toks).layer_names == ["layer 0", "layer 1"]
    cross = attention_stack(softmax_maps(1, 2, 3, 5), list("abc"), list("vwxyz"))
    assert cross.weights.shape == (1, 2, 3, 5) and cross.tokens_k == list("vwxyz")


@pytest.mark.parametrize("weights, tokens, message", [
    (softmax_maps(1, 1, 3), list("ab"), "2 query tokens for weights with 3 rows"),
    (softmax_maps(1, 1, 3) * 5, list("abc"), "lie in [0, 1]"),
    (torch.full((2, 2), float("nan")), list("ab"), "NaN"),
    (softmax_maps(1, 2, 3)[0].expand(2, 2, 3, 3).reshape(2, 2, 3, 3)[None], list("abc"), "shape"),
    ({"a": softmax_maps(2, 1, 3)}, list("abc"), "batch of 2"),
    ({"self": softmax_maps(1, 1, 3), "cross": softmax_maps(1, 1, 3, 4)}, list("abc"), "differ in shape"),
])
def test_stack_rejects_bad_input(weights, tokens, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        attention_stack(weights, tokens)


def test_head_out_of_range_is_a_clear_error():
    stack = attention_stack(softmax_maps(2, 3, 4), list("abcd"))
    with pytest.raises(ValueError, match=r"head 3 out of range: there are 3 heads \(0..2\)"):
        stack.head(0, 3)
    with pytest.raises(ValueError, match="layer 2 out of range"):
        stack.head(2, 0)


def test_visible_labels():
    assert visible("\n") == "\\n" and visible("\x1b[31m") == "\\x1b[31m" and visible(" ") == "␣"
    assert visible(HOSTILE) == HOSTILE and visible("사과") == "사과"
