"""attnlab.explanation: the data explain mode fills: named steps in the order they were added,
detached values, each step's axes."""

import pytest
import torch

from attnlab.explanation import Explanation, Step


def test_steps_keep_their_order_and_values_are_detached_copies_of_the_graph():
    ex = Explanation(title="t", tokens=["a", "b"])
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = ex.add("doubled", 2 * x, "2x", token_dim=0)
    ex.add("sum", y.sum(), "Σ")
    assert y.requires_grad  # handed back as it was: the forward goes on with it
    assert ex.names() == ["doubled", "sum"] and ex["doubled"].tolist() == [2.0, 4.0]
    assert not ex["doubled"].requires_grad and ex["sum"].item() == 6.0
    assert ex.steps[0] == Step("doubled", ex["doubled"], "2x", token_dim=0)
    assert (ex.steps[1].token_dim, ex.steps[1].key_dim, ex.steps[1].head_dim) == (None, None, None)


def test_an_unknown_step_lists_the_steps_there_are():
    ex = Explanation()
    ex.add("q", torch.zeros(1), "x W_Q")
    ex.add("k", torch.zeros(1), "x W_K")
    with pytest.raises(KeyError, match="no step 'v'; steps: q, k"):
        ex["v"]

