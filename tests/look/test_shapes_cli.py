"""`attnlab shapes` and the shape-flow table: shapes read off the real computation."""

import pytest
import torch
from torch.testing import assert_close

from attnlab import GPT, GPTConfig
from attnlab.cli import main
from attnlab.look.shapes import shape_flow


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


def test_cli_prints_seed_001_shapes(capsys):
    assert main(["shapes"]) == 0
    out = capsys.readouterr().out
    assert "[1, 4, 3, 16]" in out  # four heads of 16 over 3 tokens
    assert "[1, 3, 256]" in out  # feed-forward widens 64 -> 256
    assert "[1, 3, 50257]" in out  # GPT-2 vocabulary


def test_cli_bad_input_is_one_line(capsys):
    assert main(["shapes", "--d-model", "10", "--n-heads", "3"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "attnlab: error: d_model (10) must be divisible by n_heads (3)"
    assert main(["shapes", "--seq-len", "0"]) == 2
    assert "--seq-len must be >= 1" in capsys.readouterr().err
