"""The sparse autoencoder lab: planted features found, loss recovered by hand, resampling, the
browser against brute force, and the commands end to end on a tiny run."""

from __future__ import annotations

import copy
import json
import math
import os
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from train_helpers import TEXT, TINY, cli_main, one_thread  # noqa: F401 (one_thread: an autouse fixture)

from attnlab.config import GPTConfig
from attnlab.labs.sae.browse import BEFORE, AFTER, Browser
from attnlab.labs.sae.metrics import ce_losses, feature_stats, loss_recovered
from attnlab.labs.sae.model import SAEConfig, SparseAutoencoder
from attnlab.labs.sae.resample import resample_dead
from attnlab.labs.sae.settings import TrainSettings
from attnlab.labs.sae.train import make_optimizer, train_sae
from attnlab.labs.sae.units import specificity
from attnlab.model.gpt import GPT

KOREAN = "대한민국은 민주공화국이다. 모든 권력은 국민으로부터 나온다.\n" * 20


def planted(n: int = 24, d: int = 16, tokens: int = 20000, p: float = 0.04, seed: int = 0):
    """Activations built from n planted unit directions (d,): each present with probability p at
    a uniform [0.5, 1.5] strength -> (x (tokens, d), directions (n, d))."""
    g = torch.Generator().manual_seed(seed)
    directions = torch.randn(n, d, generator=g)
    directions /= directions.norm(dim=1, keepdim=True)
    present = torch.rand(tokens, n, generator=g) < p
    strength = 0.5 + torch.rand(tokens, n, generator=g)
    return (present * strength) @ directions, directions


def test_the_sae_recovers_planted_sparse_directions():
    x, directions = planted()
    sae = SparseAutoencoder(SAEConfig(16, 64), torch.Generator().manual_seed(0))
    train_sae(sae, x, TrainSettings(l1=0.1, lr=3e-3, steps=500, batch_size=128, warmup=20, resample_every=125,
                                    eval_interval=500))
    cos = directions @ sae.W_dec.detach().t()  # (n, F): W_dec rows have unit norm
    torch.testing.assert_close(sae.W_dec.detach().norm(dim=1), torch.ones(64))
    found = (cos.max(dim=1).values >= 0.95).float().mean().item()
    assert found >= 0.9, f"only {found:.0%} of the planted directions found"


def tiny_gpt(seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=11, max_seq_len=8, d_model=8, n_heads=2, n_layers=2, activation="relu")).eval()


def test_loss_recovered_by_hand():
    assert loss_recovered(ce_clean=2.0, ce_sae=2.5, ce_ablated=4.0) == 0.75  # (4 - 2.5) / (4 - 2)
    assert math.isnan(loss_recovered(1.0, 1.0, 1.0))
    model = tiny_gpt().double()  # float64: the hand computation and the model's agree to 1e-9
    with torch.no_grad():
        model.blocks[0].ffwd.down.weight.mul_(20)  # a feed-forward layer that matters to the loss
    g = torch.Generator().manual_seed(1)
    x = torch.randint(11, (6, 8), generator=g)
    with torch.no_grad():
        y = model(x)[0].argmax(dim=-1)  # the model's own guesses: the clean loss is the lowest
    d = model.config.d_model * 4
    half = SparseAutoencoder(SAEConfig(d, d)).double()  # x̂ = ReLU(x) / 2 = x / 2 on ReLU activations
    with torch.no_grad():
        half.W_enc.copy_(torch.eye(d)); half.W_dec.copy_(torch.eye(d) / 2)
        half.b_enc.zero_(); half.b_dec.zero_()
    got = ce_losses(model, half, "blocks.0.ffwd.hidden", x, y)

    def loss_with_down_scaled(scale: float) -> float:  # the same change made in the weights instead
        other = copy.deepcopy(model)
        with torch.no_grad():
            other.blocks[0].ffwd.down.weight.mul_(scale)
            logits, _ = other(x)
        return F.cross_entropy(logits.flatten(0, 1), y.flatten()).item()

    clean, with_sae, ablated = loss_with_down_scaled(1.0), loss_with_down_scaled(0.5), loss_with_down_scaled(0.0)
    assert ablated - clean > 0.05
    assert got["ce_clean"] == pytest.approx(clean, abs=1e-9)
    assert got["ce_sae"] == pytest.approx(with_sae, abs=1e-9)
    assert got["ce_ablated"] == pytest.approx(ablated, abs=1e-9)
    assert got["loss_recovered"] == pytest.approx((ablated - with_sae) / (ablated - clean), abs=1e-7)


def test_feature_stats_count_dead_dense_and_l0_by_hand():
    sae = SparseAutoencoder(SAEConfig(2, 3))
    with torch.no_grad():
        sae.W_enc.copy_(torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])); sae.b_enc.copy_(torch.tensor([0, 0, -5.0]))
        sae.W_dec.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])); sae.b_dec.zero_()
    x = torch.tensor([[1.0, 0.0]] * 19 + [[0.0, 1.0]])  # feature 0 on 95% of tokens, 1 on 5%, 2 never
    s = feature_stats(sae, x)
    assert (s["l0"], s["dead"], s["dense"]) == (1.0, 1, 1)
    assert s["variance_explained"] == pytest.approx(1.0)


def test_resampling_revives_planted_dead_features():
    x, _ = planted(tokens=4000)
    sae = SparseAutoencoder(SAEConfig(16, 32), torch.Generator().manual_seed(0))
    dead = torch.zeros(32, dtype=torch.bool)
    dead[:8] = True
    with torch.no_grad():
        sae.b_enc[dead] = -100.0  # these can never fire
    optimizer = make_optimizer(sae, 1e-3)
    x_hat, f = sae(x)
    (x - x_hat).pow(2).sum(-1).mean().backward()
    optimizer.step()  # Adam now holds moments for every weight
    sae.normalise_decoder()
    assert (sae.encode(x)[:, dead] > 0).sum() == 0
    alive_norm = sae.W_enc.detach()[:, ~dead].norm(dim=0).mean()
    assert resample_dead(sae, optimizer, dead, x, torch.Generator().manual_seed(0)) == 8
    fired = (sae.encode(x)[:, dead] > 0).any(dim=0)
    assert fired.all(), "every resampled feature fires on some input"
    torch.testing.assert_close(sae.W_dec.detach()[dead].norm(dim=1), torch.ones(8))
    torch.testing.assert_close(sae.W_enc.detach()[:, dead].norm(dim=0), torch.full((8,), 0.2 * alive_norm.item()))
    assert (sae.b_enc.detach()[dead] == 0).all()
    state = optimizer.state[sae.W_dec]
    assert (state["exp_avg"][dead] == 0).all() and (state["exp_avg_sq"][dead] == 0).all()
    assert (state["exp_avg"][~dead] != 0).any()


def test_training_resamples_the_dead():
    x, _ = planted(tokens=4000)
    sae = SparseAutoencoder(SAEConfig(16, 32), torch.Generator().manual_seed(0))
    events = []
    with torch.no_grad():
        sae.b_enc[:8] = -100.0
    train_sae(sae, x, TrainSettings(l1=1e-2, lr=5e-3, steps=40, batch_size=128, warmup=0, resample_every=20,
                                    eval_interval=40), on_event=lambda kind, info: events.append((kind, info)))
    revived = [info["revived"] for kind, info in events if kind == "resample"]
    assert revived and revived[0] >= 8
    assert feature_stats(sae, x)["dead"] < 8


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


def test_specificity_by_hand():
    acts = torch.tensor([[5.0, 0.0], [4.0, 0.0], [3.0, 0.0], [1.0, 0.0]])
    ids = torch.tensor([2, 2, 7, 2])
    got = specificity(acts, ids, k=3)  # unit 0: top 3 on tokens 2, 2, 7; unit 1: never active
    assert got[0].item() == pytest.approx(2 / 3) and math.isnan(got[1].item())


# --- the commands on a tiny run -------------------------------------------------------------------

SAE_FLAGS = ["--tokens", "1024", "--eval-tokens", "256", "--batch-size", "64", "--resample-every", "4", "--threads", "1"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    ws = tmp_path_factory.mktemp("sae")
    (ws / "corpus.txt").write_text(TEXT + KOREAN, encoding="utf-8")
    cwd = os.getcwd()
    os.chdir(ws)
    try:
        assert cli_main(["train", "--corpus", "corpus.txt", "--out-dir", "runs", "--name", "r", *TINY]) == 0
        assert cli_main(["sae", "--run", "runs/r", *SAE_FLAGS, "--steps", "8", "--json"]) == 0
    finally:
        os.chdir(cwd)
    return ws / "runs" / "r"


@pytest.mark.slow
def test_sae_json_and_its_file(tiny_run, tmp_path, monkeypatch, capsys):
    import shutil

    from attnlab.io import load_tensors

    run = tmp_path / "r"
    shutil.copytree(tiny_run, run)
    capsys.readouterr()
    assert cli_main(["sae", "--run", str(run), *SAE_FLAGS, "--steps", "8", "--overwrite", "--json"]) == 0
    out = json.loads(capsys.readouterr().out, parse_constant=lambda c: pytest.fail(f"{c} is not strict JSON"))
    assert list(out) == ["run", "point", "features", "l0", "variance_explained", "ce_clean", "ce_sae", "ce_ablated",
                         "loss_recovered", "dead", "dense", "sae"]
    assert out["point"] == "blocks.0.ffwd.hidden" and out["features"] == 4 * 64
    tensors = load_tensors(out["sae"])
    assert {k: tuple(v.shape) for k, v in tensors.items()} == {"W_enc": (64, 256), "b_enc": (256,),
                                                               "W_dec": (256, 64), "b_dec": (64,)}
    assert out["loss_recovered"] == pytest.approx(loss_recovered(out["ce_clean"], out["ce_sae"], out["ce_ablated"]))
    assert (run / ".attnlab-files").read_text().count("sae-blocks.0.ffwd.hidden-x4") == 1  # the run records it


@pytest.mark.slow
def test_a_killed_sae_resumes_to_what_an_uninterrupted_one_made(tiny_run, tmp_path):
    """Stopped at step 6 (the last checkpoint: step 4), then resumed: the same weights as 8 steps in one go."""
    import shutil

    from attnlab.io import load_tensors
    from attnlab.labs.sae.lab import run_sae
    from attnlab.labs.sae.settings import SAERequest

    run = tmp_path / "r"
    shutil.copytree(tiny_run, run)
    sae_dir = run / "sae-blocks.0.ffwd.hidden-x4"
    request = SAERequest(tokens=1024, eval_tokens=256, train=TrainSettings(steps=8, batch_size=64, resample_every=4,
                                                                           eval_interval=4))
    run_sae(run, request, "overwrite")
    once = load_tensors(next(sae_dir.glob("checkpoint-*")) / "model.safetensors")

    def kill_at_6(kind, info):
        if kind == "step" and info["step"] == 6:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sae(run, request, "overwrite", on_event=kill_at_6)
    assert json.loads((sae_dir / "state.json").read_text())["step"] == 4
    run_sae(run, request, "resume")
    twice = load_tensors(next(sae_dir.glob("checkpoint-*")) / "model.safetensors")
    for name in once:
        torch.testing.assert_close(twice[name], once[name], rtol=0, atol=0)


@pytest.mark.slow
def test_features_lists_shows_and_reads_korean(tiny_run, tmp_path, capsys):
    from attnlab.viz.html import read_payload

    capsys.readouterr()
    assert cli_main(["features", "--run", str(tiny_run), "--tokens", "256", "--top", "3"]) == 0
    listing = capsys.readouterr().out
    assert "features: 256" in listing and "neurons: 64" in listing
    assert cli_main(["features", "--run", str(tiny_run), "--tokens", "256", "--feature", "2", "--neurons"]) == 0
    assert "neuron 2:" in capsys.readouterr().out
    assert cli_main(["features", "--run", str(tiny_run), "--tokens", "256", "--text", "민주공화국 First"]) == 0
    rows = capsys.readouterr().out.splitlines()[1:]
    assert [r.split("'")[1] for r in rows][:5] == ["민", "주", "공", "화", "국"]
    page = tmp_path / "f.html"
    assert cli_main(["features", "--run", str(tiny_run), "--tokens", "256", "--html", str(page)]) == 0
    text = page.read_text(encoding="utf-8")
    assert "http://" not in text and "https://" not in text
    data = json.loads(text.split('id="attnlab-data">')[1].split("</script>")[0])
    assert len(data["kinds"]["feature"]["details"]) == 256 and len(data["kinds"]["neuron"]["listing"]) == 64
