"""attnlab.labs.sae.activations: a point's width or why it cannot be an SAE's, its activations
equal to what the block hands on (in any batch size), and the run's own windows."""

from __future__ import annotations

import math

import pytest
import torch

from sae_helpers import tiny_gpt
from train_helpers import one_thread  # noqa: F401 (an autouse fixture)

from attnlab.errors import UserError
from attnlab.labs.sae.activations import check_point, collect, windows
from attnlab.runs.checkpoint import load_model


def test_a_point_is_one_vector_per_token_of_its_width():
    model = tiny_gpt()  # d_model 8, d_ff 32
    assert check_point(model, "blocks.0.ffwd.hidden") == 32 and check_point(model, "blocks.1.out") == 8
    with pytest.raises(UserError, match="one point, not a pattern"):
        check_point(model, "blocks.*.out")
    with pytest.raises(UserError, match="blocks.7.ffwd.hidden"):
        check_point(model, "blocks.7.ffwd.hidden")
    with pytest.raises(UserError, match=r"not one vector per token: its value has shape \(1, 2, 2, 2\)"):
        check_point(model, "blocks.0.attn.weights")


def test_the_activations_are_what_the_feed_forward_layer_hands_its_down_projection():
    model = tiny_gpt()
    x = torch.randint(11, (5, 8), generator=torch.Generator().manual_seed(0))
    seen = []
    handle = model.blocks[1].ffwd.down.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    try:
        with torch.no_grad():
            model(x)
    finally:
        handle.remove()
    acts = collect(model, "blocks.1.ffwd.hidden", x, batch=2)  # batches of 2, 2 and 1 windows
    assert acts.shape == (40, 32) and acts.dtype == torch.float32
    torch.testing.assert_close(acts, seen[0].reshape(40, 32))  # row w * T + t: window w, token t
    torch.testing.assert_close(collect(model, "blocks.1.ffwd.hidden", x), acts)


@pytest.mark.slow
def test_windows_are_whole_batches_of_the_runs_text_and_their_next_tokens(tiny_run):
    _, tokenizer = load_model(tiny_run)
    x, y = windows(tiny_run, tokenizer, "val", 100, seed=1)  # batch 4 of 16 tokens: 64 a batch
    assert x.shape == y.shape == (4 * math.ceil(100 / 64), 16)
    assert torch.equal(x[:, 1:], y[:, :-1])  # y is x one token on
    again, _ = windows(tiny_run, tokenizer, "val", 100, seed=1)
    assert torch.equal(again, x) and not torch.equal(windows(tiny_run, tokenizer, "train", 100, seed=1)[0], x)
