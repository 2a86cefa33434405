"""attnlab.look.shapes: the shape-flow table is read off the real computation."""

import pytest
import torch
from torch.testing import assert_close

from attnlab import GPT, GPTConfig
from attnlab.look.shapes import format_table, shape_flow


@pytest.mark.parametrize("norm", ["pre", "post"])
def test_shape_flow_computes_the_model_output(norm):
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=65, max_seq_len=8, d_model=64, n_heads=4, n_layers=3, norm=norm)).eval()
    g = torch.Generator().manual_seed(1)
    rows, logits = shape_flow(model, batch_size=2, seq_len=5, generator=g)
    idx = torch.randint(0, 65, (2, 5), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert_close(logits, model(idx)[0])
    shapes = {step: shape for step, shape, _ in rows}
    assert shapes["blocks.0.attn.q"] == (2, 4, 5, 16)  # (B, H, T, D)
    assert shapes["blocks.0.attn.weights"] == (2, 4, 5, 5)  # (B, H, T, S)
    assert shapes["blocks.0.attn.z"] == (2, 5, 4, 16)  # (B, T, H, D)
    assert shapes["blocks.0.ffwd.hidden"] == (2, 5, 256)
    assert shapes["× 3 blocks"] == (2, 5, 64)
    assert shapes["logits"] == (2, 5, 65)
    names = [step for step, _, _ in rows]  # the forward order of the block's points
    if norm == "pre":
        assert names[2:4] == ["blocks.0.ln1", "blocks.0.attn.q"]
    else:  # post-LN normalises after the residual
        assert names[2] == "blocks.0.attn.q" and names.index("blocks.0.ln1") > names.index("blocks.0.resid_mid")


def test_a_one_block_model_has_no_stack_row_and_too_long_a_text_is_refused():
    model = GPT(GPTConfig(vocab_size=7, max_seq_len=4, d_model=8, n_heads=2, n_layers=1)).eval()
    rows, logits = shape_flow(model, seq_len=4)
    assert rows[0] == ("input ids", (1, 4), "B, T token ids")
    assert not any(step.startswith("×") for step, _, _ in rows)
    assert rows[-1][:2] == ("logits", (1, 4, 7)) and logits.shape == (1, 4, 7)
    with pytest.raises(ValueError, match=r"seq_len \(5\) is longer than max_seq_len \(4\)"):
        shape_flow(model, seq_len=5)


def test_the_table_aligns_its_columns():
    rows = [("input ids", (1, 3), "B, T token ids"), ("logits", (1, 3, 65), "lm_head"), ("ln_f", (1, 3, 8), "")]
    assert format_table(rows).split("\n") == [
        "input ids  [1, 3]      B, T token ids",
        "logits     [1, 3, 65]  lm_head",
        "ln_f       [1, 3, 8]",
    ]
