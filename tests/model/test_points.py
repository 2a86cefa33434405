"""attnlab.model.points: a point hands its value through the functions attached to it, in order;
every point of a model has the dotted name of its module's path."""

import pytest
import torch

import attnlab
from attnlab.model.points import Point, Points, named_points


def test_points_of_any_module_get_dotted_names():
    class Scale(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.points = Points("before", "after")

        def forward(self, x):
            return self.points.after(3 * self.points.before(x))

    model = torch.nn.Sequential(torch.nn.Sequential(Scale()), Scale())
    assert list(named_points(model)) == ["0.0.before", "0.0.after", "1.before", "1.after"]
    with attnlab.record(model, "*.after") as rec, attnlab.intervene(model, {"0.0.after": lambda v, n: -v}):
        out = model(torch.ones(2))
    assert rec["1.after"].tolist() == [-9.0, -9.0] and out.tolist() == [-9.0, -9.0]
    with pytest.raises(ValueError, match="cannot name a point"):
        Points("items")


def test_a_point_runs_its_functions_in_the_order_they_were_attached():
    point = Point()
    x = torch.tensor([1.0, 2.0])
    assert not point.active and point(x) is x  # nothing attached: the value itself
    point.fns.append(lambda v: v + 1)
    point.fns.append(lambda v: 10 * v)
    assert point.active
    assert point(x).tolist() == [20.0, 30.0]  # (x + 1) * 10, not 10x + 1
    point.fns.reverse()
    assert point(x).tolist() == [11.0, 21.0]


def test_points_keep_their_order_and_refuse_names_that_are_not_attributes():
    points = Points("q", "k", "v")
    assert [name for name, _ in points.items()] == ["q", "k", "v"]
    assert len({id(p) for _, p in points.items()}) == 3  # one Point each
    for bad in ("1st", "a.b", "", "items"):
        with pytest.raises(ValueError, match="cannot name a point"):
            Points(bad)


def test_a_gpts_points_are_named_after_its_modules_a_modules_own_before_its_childrens():
    model = attnlab.GPT(attnlab.GPTConfig(vocab_size=5, max_seq_len=4, d_model=8, n_heads=2, n_layers=2))
    block = ["ln1", "resid_mid", "ln2", "out", "attn.q", "attn.k", "attn.v", "attn.scores", "attn.weights",
             "attn.z", "attn.out", "ffwd.hidden", "ffwd.out"]
    expected = ["embed", "ln_f", "logits"] + [f"blocks.{i}.{name}" for i in range(2) for name in block]
    assert list(named_points(model)) == expected
    assert named_points(model)["blocks.1.attn.weights"] is model.blocks[1].attn.points.weights
