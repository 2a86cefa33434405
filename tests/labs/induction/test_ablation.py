"""attnlab.labs.induction.ablation: the two copies' losses, heads zeroed (checked against W_O's
columns zeroed by hand), the causal check's random draws and the path removal."""

import pytest
import torch

from induction_helpers import tiny_model
from train_helpers import one_thread  # noqa: E402,F401 (an autouse fixture)

from attnlab.labs.induction.ablation import causal_check, copy_losses, losses_by_copy, path_removal
from attnlab.labs.induction.scores import repeated_tokens


def test_copy_losses_split_the_two_copies():
    model = tiny_model()
    ids = repeated_tokens(5, 3, 20, torch.Generator().manual_seed(0))  # (3, 10)
    logits, _ = model(ids)
    logp = torch.log_softmax(logits, dim=-1)
    target = logp[:, :-1].gather(-1, ids[:, 1:, None])[..., 0]  # (B, T-1): log p(token t+1)
    first, second = copy_losses(model, ids, 5)
    assert first == pytest.approx(-target[:, 0:4].mean().item(), rel=1e-5)
    assert second == pytest.approx(-target[:, 5:9].mean().item(), rel=1e-5)


def test_ablating_no_head_is_the_baseline_and_a_head_is_its_w_o_columns_zeroed():
    model = tiny_model()
    ids = repeated_tokens(5, 3, 20, torch.Generator().manual_seed(0))
    with torch.no_grad():
        plain = losses_by_copy(model(ids)[0], ids, 5)  # no intervention at all
    assert copy_losses(model, ids, 5, []) == plain
    ablated = copy_losses(model, ids, 5, [(1, 0), (0, 1)])
    d = model.config.d_head
    with torch.no_grad():  # the same ablation by hand: the heads' slices of W_O's input are zeroed
        model.blocks[1].attn.proj.weight[:, 0:d] = 0
        model.blocks[0].attn.proj.weight[:, d:2 * d] = 0
    by_hand = copy_losses(model, ids, 5)
    assert ablated[0] == pytest.approx(by_hand[0], rel=1e-5)
    assert ablated[1] == pytest.approx(by_hand[1], rel=1e-5)
    assert ablated != plain


def test_causal_check_draws_the_same_number_of_other_heads():
    model = tiny_model(3)
    ids = repeated_tokens(5, 2, 20, torch.Generator().manual_seed(0))
    check = causal_check(model, ids, 5, [(1, 0), (2, 1)], n_heads=2, n_layers=3, draws=5, seed=0)
    assert check.baseline == copy_losses(model, ids, 5)[1]
    assert len(check.random_sets) == 5 and len(check.random_losses) == 5
    for heads in check.random_sets:
        assert len(heads) == 2 and not set(heads) & {(1, 0), (2, 1)}
    assert check.ablate_random == sorted(check.random_losses)[2]  # the median of five
    assert sorted(check.others_alone) == [(0, 0), (0, 1), (1, 1), (2, 0)]  # every head not detected, once
    d = model.config.d_head
    with torch.no_grad():  # head 0.1 zeroed by hand: its slice of W_O's input
        model.blocks[0].attn.proj.weight[:, d:2 * d] = 0
    assert check.others_alone[(0, 1)] == pytest.approx(copy_losses(model, ids, 5)[1], rel=1e-5)


def test_path_removal_removes_layer_0_from_one_input_of_layer_1():
    model = tiny_model()
    with torch.no_grad():
        for p in model.parameters():  # weights large enough for every path to matter
            p.normal_(std=0.5)
    ids = repeated_tokens(5, 3, 20, torch.Generator().manual_seed(0))
    removal = path_removal(model, ids, 5, n_heads=2)
    baseline = copy_losses(model, ids, 5)[1]
    assert set(removal) == {"key", "query", "value"} and all(v != baseline for v in removal.values())
    with torch.no_grad():  # layer 0 writes nothing but W_O's bias: no path has anything to remove
        model.blocks[0].attn.proj.weight.zero_()
    still = copy_losses(model, ids, 5)[1]
    assert path_removal(model, ids, 5, n_heads=2) == pytest.approx({k: still for k in removal}, abs=1e-6)
    assert causal_check(model, ids, 5, [(1, 0)], n_heads=2, n_layers=2).path_removal is not None
    assert causal_check(tiny_model(1), ids, 5, [(0, 0)], n_heads=2, n_layers=1).path_removal is None
