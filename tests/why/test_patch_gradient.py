"""attnlab.why.patch_gradient: attribution patching is exact patching where LD is linear in the
patched activation and only an estimate where it is not; its cells sum what one patch covers;
the correlation is Pearson's r."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.testing import assert_close

from train_helpers import one_thread  # noqa: E402,F401 (an autouse fixture)

from attnlab.config import GPTConfig  # noqa: E402
from attnlab.model.gpt import GPT  # noqa: E402
from attnlab.runs.checkpoint import load_model  # noqa: E402
from attnlab.why.logit_diff import make_pair  # noqa: E402
from attnlab.why.patch import patch_tables  # noqa: E402
from attnlab.why.patch_gradient import attribution_tables, cell_sums, correlation  # noqa: E402

from why_helpers import CLEAN, CORRUPT  # noqa: E402


def test_attribution_is_exact_where_ld_is_linear_in_the_activation():
    """One attention-only layer without LayerNorm: the logits are linear in attn.out, in each
    head's z and in the last residual stream, so the first-order estimate is the exact patch."""
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=11, max_seq_len=8, d_model=12, n_heads=3, n_layers=1, norm="none",
                          ffn=False)).eval()
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.5)
    pair = make_pair(model, torch.tensor([[1, 2, 3, 4, 5]]), torch.tensor([[6, 2, 7, 4, 8]]), answer=9, wrong=10)
    exact = patch_tables(model, pair, ["resid", "attn", "heads", "heads-pos"])
    grad = attribution_tables(model, pair, ["resid", "attn", "heads", "heads-pos"])
    for point in ("attn", "heads", "heads-pos"):
        assert_close(torch.tensor(grad[point]), torch.tensor(exact[point]), atol=1e-5, rtol=0)
    assert_close(torch.tensor(grad["resid"][-1]), torch.tensor(exact["resid"][-1]), atol=1e-5, rtol=0)
    assert correlation(exact["attn"], grad["attn"]) == pytest.approx(1.0, abs=1e-6)


def test_attribution_differs_from_exact_where_ld_is_not_linear(run_dir):
    model, tok = load_model(run_dir)
    model.eval()
    pair = make_pair(model, torch.tensor([tok.encode(CLEAN)]), torch.tensor([tok.encode(CORRUPT)]),
                     answer=tok.encode("e")[0], wrong=tok.encode("a")[0])
    exact, grad = patch_tables(model, pair, ["resid"]), attribution_tables(model, pair, ["resid"])
    assert grad["ld_clean"] == exact["ld_clean"] and grad["ld_corrupt"] == exact["ld_corrupt"]
    # the embedding row goes through LayerNorm and attention: an estimate, not the patch
    assert max(abs(a - b) for a, b in zip(grad["resid"][0], exact["resid"][0])) > 1e-4


def test_a_cell_sums_what_one_patch_covers():
    """heads: a head's T x D numbers; heads-pos: its D numbers at one position; resid, attn and
    mlp: the C numbers of one position."""
    product = torch.arange(2 * 3 * 4, dtype=torch.float64).view(1, 2, 3, 4)  # (1, T=2, H=3, D=4)
    by_head = [sum(float(product[0, t, h].sum()) for t in range(2)) for h in range(3)]
    assert cell_sums("heads", product) == by_head
    assert cell_sums("heads-pos", product) == [[float(product[0, t, h].sum()) for t in range(2)] for h in range(3)]
    stream = product.view(1, 2, 12)  # (1, T, C)
    for point in ("resid", "attn", "mlp"):
        assert cell_sums(point, stream) == [float(stream[0, 0].sum()), float(stream[0, 1].sum())]


def test_correlation_is_pearsons_r_of_the_flattened_tables():
    g = np.random.default_rng(0)
    a, b = g.normal(size=(3, 4)), g.normal(size=(3, 4))
    assert correlation(a.tolist(), b.tolist()) == pytest.approx(np.corrcoef(a.ravel(), b.ravel())[0, 1], abs=1e-12)
    assert correlation(a.tolist(), (2 * a + 1).tolist()) == pytest.approx(1.0)
    assert correlation(a.tolist(), (-a).tolist()) == pytest.approx(-1.0)
    assert correlation([[1.0, 1.0]], [[0.0, 3.0]]) is None  # a constant table has no r
