"""attnlab.why.ablate: head ablation on a tiny GPT against references written here: the baseline
loss, a forward without attention output, and W_O's columns of a head set to zero."""

import copy

import pytest
import torch
import torch.nn.functional as F

from attnlab.model.gpt import GPT
from attnlab.why.ablate import ablate_heads, ablated_forward, ablated_loss

from why_helpers import TOK, tiny_gpt  # noqa: E402


def batch(seed: int = 1, B: int = 3, T: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, TOK.vocab_size, (B, T + 1), generator=g)
    return ids[:, :-1], ids[:, 1:]


@pytest.mark.parametrize("mode", ["zero", "mean"])
def test_ablating_no_head_gives_the_baseline_loss_exactly(mode):
    model = tiny_gpt()
    x, y = batch()
    model.eval()
    with torch.no_grad():
        _, baseline = model(x, y)
    assert ablated_loss(model, x, y, [], mode) == baseline.item()
    assert ablate_heads(model, x, y)["baseline_loss"] == baseline.item()


def forward_without_attention_output(model: GPT, idx: torch.Tensor) -> torch.Tensor:
    """The GPT written out again with every head's output zero: attention adds only W_O's bias."""
    x = model.token_embedding_table(idx) + model.position_embedding_table(torch.arange(idx.shape[1]))
    for block in model.blocks:
        if block.pre_norm:
            x = x + block.attn.proj.bias
            x = x + block.ffwd(block.ln2(x))
        else:
            x = block.ln1(x + block.attn.proj.bias)
            x = block.ln2(x + block.ffwd(x))
    return model.lm_head(model.ln_f(x))


@pytest.mark.parametrize("norm", ["pre", "post"])
def test_ablating_every_head_equals_a_forward_without_attention(norm):
    model = tiny_gpt(norm)
    x, y = batch()
    every = [(l, h) for l in range(3) for h in range(2)]
    logits, loss = ablated_forward(model, x, y, every)
    model.eval()
    with torch.no_grad():
        expected = forward_without_attention_output(model, x)
    torch.testing.assert_close(logits, expected, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(loss, F.cross_entropy(expected.flatten(0, 1), y.flatten()), atol=1e-6, rtol=1e-6)


def test_zeroing_a_head_equals_zeroing_its_wo_columns_and_mean_of_one_position_is_a_no_op():
    model = tiny_gpt()
    x, y = batch()
    result = ablate_heads(model, x, y, together=[(0, 1), (2, 0)])
    assert [(r["layer"], r["head"]) for r in result["heads"]] == [(l, h) for l in range(3) for h in range(2)]
    for row in result["heads"]:
        reference = copy.deepcopy(model).eval()
        with torch.no_grad():
            reference.blocks[row["layer"]].attn.proj.weight[:, row["head"] * 8:(row["head"] + 1) * 8] = 0
            _, loss = reference(x, y)
        assert row["zero"] == pytest.approx(loss.item() - result["baseline_loss"], abs=1e-5)
    assert any(abs(r["zero"]) > 1e-3 for r in result["heads"]) and any(abs(r["mean"]) > 1e-3 for r in result["heads"])
    assert result["set"]["heads"] == [[0, 1], [2, 0]]
    assert result["set"]["loss"] == pytest.approx(ablated_loss(model, x, y, [(2, 0), (0, 1)]), abs=1e-7)
    one_x, one_y = x[:1, :1], y[:1, :1]  # one position: its mean is itself
    assert ablated_loss(model, one_x, one_y, [(1, 1)], "mean") == pytest.approx(
        ablated_loss(model, one_x, one_y, []), abs=1e-6)
    with pytest.raises(ValueError, match="does not exist"):
        ablated_loss(model, x, y, [(3, 0)])
