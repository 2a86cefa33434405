"""attnlab.labs.sae.browse: the browser's top contexts against a brute-force search, its listing,
detail, summary and the units firing at each token of a text."""

from __future__ import annotations

import pytest
import torch

from sae_helpers import tiny_gpt
from train_helpers import one_thread  # noqa: F401 (an autouse fixture)

from attnlab.errors import UserError
from attnlab.labs.sae.activations import collect
from attnlab.labs.sae.browse import AFTER, BEFORE, Browser
from attnlab.labs.sae.model import SAEConfig, SparseAutoencoder
from attnlab.labs.sae.units import specificity


def brute_force_top(values: list[float], k: int) -> list[int]:
    """The k largest positive values' indices, the earlier first among equals, by plain Python."""
    best: list[int] = []
    for i, v in enumerate(values):
        if v > 0:
            best.append(i)
    best.sort(key=lambda i: (-values[i], i))
    return best[:k]


class Labels:
    """A stand-in tokenizer: token i reads as 't{i}'."""

    def token_strings(self, ids):
        return [f"t{i}" for i in ids]


def test_browser_top_contexts_equal_a_brute_force_search():
    model = tiny_gpt()
    x = torch.randint(11, (20, 8), generator=torch.Generator().manual_seed(3))
    x[5] = x[4]  # two identical windows: equal activations, the earlier must come first
    sae = SparseAutoencoder(SAEConfig(32, 64), torch.Generator().manual_seed(0))
    browser = Browser.build(model, Labels(), "blocks.0.ffwd.hidden", x, sae)
    acts = {"feature": browser.kinds["feature"].units.acts, "neuron": browser.kinds["neuron"].units.acts}
    for kind in ("feature", "neuron"):
        for unit in range(0, acts[kind].shape[1], 7):
            column = acts[kind][:, unit].tolist()
            want = brute_force_top(column, 10)
            got = browser.contexts(kind, unit)
            assert [c["index"] for c in got] == want
            for c in got:
                w, t = divmod(c["index"], 8)
                lo = max(0, t - BEFORE)
                assert c["tokens"] == [f"t{i}" for i in x[w, lo:min(8, t + AFTER + 1)].tolist()]
                assert c["tokens"][c["at"]] == f"t{x[w, t].item()}"
                assert c["value"] == pytest.approx(column[c["index"]], abs=1e-4)
    # a neuron is the point's own coordinate, measured by the same code as the features
    hidden = browser.kinds["neuron"].units.acts
    torch.testing.assert_close(browser.kinds["feature"].units.acts, sae.encode(hidden))
    spec = specificity(hidden, x.flatten())
    torch.testing.assert_close(browser.kinds["neuron"].specificity, spec, equal_nan=True)


def browser(with_sae: bool = True) -> Browser:
    x = torch.randint(11, (6, 8), generator=torch.Generator().manual_seed(3))
    sae = SparseAutoencoder(SAEConfig(32, 16), torch.Generator().manual_seed(0)) if with_sae else None
    return Browser.build(tiny_gpt(), Labels(), "blocks.0.ffwd.hidden", x, sae)


def test_the_listing_is_densest_first_and_promotes_the_top_logit_weights():
    b = browser()
    density = (b.kinds["neuron"].units.acts > 0).float().mean(dim=0)  # (32,)
    listing = b.listing("neuron")
    assert [row["unit"] for row in listing] == torch.sort(-density, stable=True).indices.tolist()
    for row in listing[:5]:
        assert row["density"] == pytest.approx(density[row["unit"]].item(), abs=1e-6)
        top3 = torch.topk(b.kinds["neuron"].logits[row["unit"]], 3).indices.tolist()
        assert row["promotes"] == [f"t{i}" for i in top3]


def test_a_units_detail_and_the_summary_by_hand():
    b = browser()
    d = b.detail("feature", 4, contexts=3)
    column = b.kinds["feature"].units.acts[:, 4]
    assert d["kind"] == "feature" and d["unit"] == 4 and len(d["contexts"]) <= 3
    assert d["histogram"]["max"] == pytest.approx(column.max().item())
    assert sum(d["histogram"]["counts"]) == int((column > 0).sum())
    row = b.kinds["feature"].logits[4]
    assert [t["token"] for t in d["promotes"]] == [f"t{i}" for i in torch.topk(row, 8).indices.tolist()]
    assert [t["token"] for t in d["suppresses"]] == [f"t{i}" for i in torch.topk(-row, 8).indices.tolist()]
    with pytest.raises(UserError, match=r"feature 16 does not exist: there are 16 \(0..15\)") as caught:
        b.detail("feature", 16)
    assert caught.value.code == "out_of_range"
    s = b.summary()
    acts = b.kinds["neuron"].units.acts
    assert (s["point"], s["tokens"]) == ("blocks.0.ffwd.hidden", 48)
    assert s["neuron"]["units"] == 32 and s["neuron"]["dead"] == int(((acts > 0).sum(dim=0) == 0).sum())
    assert set(b.page_data("tiny")["kinds"]["feature"]["details"]) == set(range(16))


def test_without_an_sae_there_are_only_neurons():
    b = browser(with_sae=False)
    assert set(b.kinds) == {"neuron"}
    with pytest.raises(UserError, match="no features here: no SAE was given"):
        b.listing("feature")


def test_the_units_firing_at_each_token_of_a_text():
    b = browser()
    idx = torch.tensor([[1, 2, 3, 4]])
    rows = b.fire(idx, "feature", top=3)
    f = b.sae.encode(collect(b.model, b.point, idx))  # (4, 16): the SAE's features at each token
    assert [r["token"] for r in rows] == ["t1", "t2", "t3", "t4"]
    for t, r in enumerate(rows):
        values, units = torch.topk(f[t], 3)
        want = [(u, v) for u, v in zip(units.tolist(), values.tolist()) if v > 0]  # only units that fire
        assert [u["unit"] for u in r["units"]] == [u for u, _ in want]
        assert [u["value"] for u in r["units"]] == pytest.approx([v for _, v in want], abs=1e-4)
    neurons = b.fire(idx, "neuron", top=2)
    hidden = collect(b.model, b.point, idx)  # (4, 32): the neurons at each token
    assert [len(r["units"]) for r in neurons] == [min(2, int((row > 0).sum())) for row in hidden]
