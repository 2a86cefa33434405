"""Path patching against a two-pass computation written out by hand on a 2-layer model."""

from __future__ import annotations

import pytest
import torch

from train_helpers import one_thread  # noqa: F401 (an autouse fixture)

from attnlab.config import GPTConfig
from attnlab.look.hooks import intervene, record
from attnlab.model.gpt import GPT
from attnlab.errors import UserError
from attnlab.why.logit_diff import make_pair, normalised
from attnlab.why.paths import parse_path, path_forward, path_patch, removed_forward

CLEAN, CORRUPT = torch.tensor([[1, 2, 3, 4, 5, 6]]), torch.tensor([[7, 2, 8, 4, 9, 6]])


def two_layers(norm: str = "pre") -> GPT:
    torch.manual_seed(1)
    model = GPT(GPTConfig(vocab_size=12, max_seq_len=8, d_model=16, n_heads=4, n_layers=2, norm=norm)).eval()
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.3)
    return model


def by_hand(model: GPT, run: torch.Tensor, delta_of, receiver: int, kind: str) -> torch.Tensor:
    """Pass 1: the sender's output written out (z times its rows of W_O), the residual stream
    entering block 1 plus the change, block 1's own ln1 and W_Q/W_K/W_V weights; pass 2: the run
    with only the receiver's k (q, v) swapped. Returns the logits."""
    with torch.no_grad(), record(model, "blocks.0.attn.z", "blocks.0.out") as rec:
        model(run)
    D, C = model.config.d_head, model.config.d_model
    w_o = model.blocks[0].attn.proj.weight  # (C, C): columns h*D..(h+1)*D belong to head h
    outputs = [rec["blocks.0.attn.z"][:, :, h] @ w_o[:, h * D:(h + 1) * D].T for h in range(4)]  # 4 x (B, T, C)
    x = rec["blocks.0.out"] + delta_of(outputs)  # (B, T, C): the stream entering block 1, changed
    h = model.blocks[1].ln1(x)
    which = {"q": 0, "k": 1, "v": 2}[kind]
    w, b = model.blocks[1].attn.qkv.weight[which * C:(which + 1) * C], model.blocks[1].attn.qkv.bias[which * C:(which + 1) * C]
    new = (h @ w.T + b).view(1, -1, 4, D).transpose(1, 2)  # (B, H, T, D)

    def swap(value, name):
        value[:, receiver] = new[:, receiver]
        return value

    with torch.no_grad(), intervene(model, {f"blocks.1.attn.{kind}": swap}):
        return model(run)[0]


@pytest.mark.parametrize("kind", ["k", "q", "v"])
@pytest.mark.parametrize("norm", ["pre", "none"])
def test_path_patching_equals_two_passes_by_hand(kind, norm):
    model = two_layers(norm)
    pair = make_pair(model, CLEAN, CORRUPT, answer=10, wrong=11)
    with torch.no_grad(), record(model, "blocks.0.attn.z") as clean_rec:
        model(CLEAN)
    D = model.config.d_head
    w_o = model.blocks[0].attn.proj.weight
    clean_out = clean_rec["blocks.0.attn.z"][:, :, 3] @ w_o[:, 3 * D:4 * D].T  # sender 0.3, clean
    logits = by_hand(model, CORRUPT, lambda outs: clean_out - outs[3], 2, kind)
    with torch.no_grad():
        ld_clean, ld_corrupt = (pair.ld(model(t)[0]).item() for t in (CLEAN, CORRUPT))
    want = normalised(pair.ld(logits), ld_clean, ld_corrupt).item()
    got = path_patch(model, pair, parse_path(f"0.3->1.2.{kind}", 2, 4))
    # LD is about 7 here: 1e-5 is a few float32 roundings of it, which differ between CPUs' kernels
    assert got["value"] == pytest.approx(want, rel=1e-5, abs=1e-5)
    assert got["ld"] == pytest.approx(pair.ld(logits).item(), rel=1e-5, abs=1e-5)
    assert got["input"] == {"k": "key", "q": "query", "v": "value"}[kind]


def test_removing_every_sender_from_every_receiver_by_hand():
    model = two_layers()
    want = by_hand(model, CLEAN, lambda outs: -sum(outs), 0, "k")  # every layer-0 head, gone from head 1.0's keys
    one = removed_forward(model, CLEAN, parse_path("0.*->1.0.k", 2, 4), "zero")
    torch.testing.assert_close(one, want, atol=1e-5, rtol=0)
    every = removed_forward(model, CLEAN, parse_path("0.*->1.*.k", 2, 4), "zero")
    assert not torch.allclose(every, one)  # the other receivers' keys changed too
    with torch.no_grad(), record(model, "blocks.0.attn.z") as rec:
        model(CLEAN)
    D, w_o = model.config.d_head, model.blocks[0].attn.proj.weight
    outs = [rec["blocks.0.attn.z"][:, :, h] @ w_o[:, h * D:(h + 1) * D].T for h in range(4)]
    mean = by_hand(model, CLEAN, lambda o: sum(x.mean(dim=(0, 1), keepdim=True) - x for x in outs), 0, "k")
    torch.testing.assert_close(removed_forward(model, CLEAN, parse_path("0.*->1.0.k", 2, 4), "mean"), mean,
                               atol=1e-5, rtol=0)


def test_a_path_that_changes_nothing_leaves_the_run_as_it_is():
    model = two_layers()
    with torch.no_grad():
        plain = model(CORRUPT)[0]
    got = path_forward(model, CORRUPT, parse_path("0.1->1.3.q", 2, 4), torch.zeros(1, 6, 16))  # no change sent
    torch.testing.assert_close(got, plain, atol=1e-6, rtol=0)


@pytest.mark.parametrize("spec, words", [("0.4->1.0.k", "head 0.4 does not exist"),
                                         ("0.0->2.0.k", "layer 2 does not exist"),
                                         ("1.0->0.0.k", "must come before"),
                                         ("0.0->1.0.x", "SENDER->RECEIVER.INPUT")])
def test_a_path_naming_what_is_not_there_is_one_error(spec, words):
    with pytest.raises(UserError, match=words):
        parse_path(spec, 2, 4)


def test_post_ln_models_are_refused():
    model = two_layers("post")
    pair = make_pair(model, CLEAN, CORRUPT, answer=10, wrong=11)
    with pytest.raises(UserError, match="post-LN"):
        path_patch(model, pair, parse_path("0.0->1.0.k", 2, 4))
