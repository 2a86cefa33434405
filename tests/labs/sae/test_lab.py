"""attnlab.labs.sae.lab: `attnlab sae --json` and its file, a killed SAE resumed exactly, the web
lab's SAE panel (slow: a trained run, conftest.py); where an SAE is found, what it was made for,
and the printed report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from starlette.testclient import TestClient

from sae_helpers import SAE_FLAGS
from train_helpers import cli_main, one_thread  # noqa: F401 (one_thread: an autouse fixture)

from attnlab.errors import UserError
from attnlab.labs.sae.lab import KEYS, SAEResult, check_made_for, find_sae, made_for, read_settings, report
from attnlab.labs.sae.metrics import loss_recovered
from attnlab.labs.sae.settings import TrainSettings
from attnlab.serve.app import make_app
from attnlab.serve.store import ModelStore


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
def test_the_sae_panel_answers_what_the_command_prints(runs, capsys):
    """POST /api/sae trains the same SAE in the run the page has open, on the model the lab holds:
    the same JSON as `attnlab sae --json`."""
    import json

    client = TestClient(make_app(ModelStore(runs, minilm=False), loopback=False))
    small = {"tokens": 512, "eval_tokens": 128, "batch_size": 64, "steps": 2, "overwrite": True}
    answer = client.post("/api/sae", json={"run": "r", **small})
    assert answer.status_code == 200, answer.text
    assert cli_main(["sae", "--run", str(runs.resolve() / "r"), "--tokens", "512", "--eval-tokens", "128",
                     "--batch-size", "64", "--steps", "2", "--overwrite", "--threads", "1", "--json"]) == 0
    web, cli = answer.json(), json.loads(capsys.readouterr().out)
    # the same numbers; the weights' file is the SAE's new checkpoint, whose name has a random part
    assert Path(web.pop("sae")).parent.parent == Path(cli.pop("sae")).parent.parent == runs.resolve() / "r" / \
        "sae-blocks.0.ffwd.hidden-x4"
    assert web == cli
    for body, status, code in (({"run": "r", "run_dir": "x"}, 400, "unknown_setting"),
                               ({"run": "r", "expansion": 0}, 400, "bad_input"),
                               ({"run": "r", "tokens": 1 << 21}, 413, "over_budget")):
        got = client.post("/api/sae", json=body)
        assert (got.status_code, got.json()["code"]) == (status, code), got.text


def fake_run(folder: Path, checkpoint: str = "checkpoint-000006-ab12", saes: tuple[str, ...] = ()) -> Path:
    """A run folder as far as an SAE asks: state.json naming its committed checkpoint, and SAE folders."""
    folder.mkdir()
    (folder / "state.json").write_text(json.dumps({"step": 6, "checkpoint": checkpoint}))
    for name in saes:
        (folder / name).mkdir()
        point = name[len("sae-"):name.rindex("-x")]
        (folder / name / "sae.json").write_text(json.dumps({"made_for": {"checkpoint": checkpoint, "step": 6},
                                                             "point": point, "d_in": 4, "features": 16}))
    return folder


def test_an_sae_is_found_by_name_by_default_or_as_the_only_one(tmp_path):
    one = fake_run(tmp_path / "one", saes=("sae-blocks.1.out-x2",))
    assert find_sae(one, None) == one / "sae-blocks.1.out-x2"
    two = fake_run(tmp_path / "two", saes=("sae-blocks.1.out-x2", "sae-blocks.0.ffwd.hidden-x4"))
    assert find_sae(two, None) == two / "sae-blocks.0.ffwd.hidden-x4"  # the default one
    assert find_sae(two, "sae-blocks.1.out-x2") == two / "sae-blocks.1.out-x2"
    three = fake_run(tmp_path / "three", saes=("sae-blocks.1.out-x2", "sae-blocks.2.out-x2"))
    with pytest.raises(UserError, match=r"several SAEs \(sae-blocks.1.out-x2, sae-blocks.2.out-x2\): pick one"):
        find_sae(three, None)
    with pytest.raises(UserError, match="holds no SAE yet"):
        find_sae(fake_run(tmp_path / "none"), None)
    for name in ("../one/sae-blocks.1.out-x2", ".hidden", "sae-x"):
        with pytest.raises(UserError, match="no SAE named"):
            find_sae(one, name)


def test_an_sae_belongs_to_the_checkpoint_and_point_it_was_made_for(tmp_path):
    run = fake_run(tmp_path / "r", saes=("sae-blocks.1.out-x2",))
    sae_dir = run / "sae-blocks.1.out-x2"
    assert made_for(run) == {"checkpoint": "checkpoint-000006-ab12", "step": 6}
    saved = read_settings(sae_dir)
    check_made_for(run, sae_dir, saved, "blocks.1.out")
    with pytest.raises(UserError, match="holds an SAE for blocks.1.out, not blocks.0.out"):
        check_made_for(run, sae_dir, saved, "blocks.0.out")
    (run / "state.json").write_text(json.dumps({"step": 9, "checkpoint": "checkpoint-000009-cd34"}))  # trained on
    with pytest.raises(UserError, match="was made for another model .checkpoint checkpoint-000006-ab12, step 6."):
        check_made_for(run, sae_dir, saved)
    (sae_dir / "sae.json").write_text('{"point": "blocks.1.out"}')
    with pytest.raises(UserError, match="is not an SAE's settings file"):
        read_settings(sae_dir)
    with pytest.raises(UserError, match="has no checkpoint folder to make an SAE for"):
        made_for(fake_run(tmp_path / "flat", checkpoint=None))


SUMMARY = {"run": "runs/r", "point": "blocks.0.ffwd.hidden", "features": 256, "l0": 12.34, "variance_explained": 0.8766,
           "ce_clean": 2.0, "ce_sae": 2.25, "ce_ablated": 3.0, "loss_recovered": 0.75, "dead": 3, "dense": 1,
           "sae": "runs/r/sae/checkpoint-1/model.safetensors", "step": 8, "train_seconds": 1.0}


def test_the_json_is_the_summarys_keys_and_the_report_says_them():
    result = SAEResult(SUMMARY, interrupted=False)
    assert list(result.to_json()) == list(KEYS) and "step" not in result.to_json()
    assert report(result) == [
        "\n256 features on blocks.0.ffwd.hidden: L0 12.3 per token, variance explained 0.877",
        "loss: clean 2.0000, with the SAE 2.2500, zero-ablated 3.0000: loss recovered 75.0%",
        "dead features 3, dense (active on >10% of tokens) 1",
        "saved runs/r/sae/checkpoint-1/model.safetensors; browse it with: attnlab features --run runs/r"]
    assert report(SAEResult(SUMMARY, interrupted=True))[-1] == (
        "interrupted: checkpoint saved. Continue with: attnlab sae --run runs/r --point blocks.0.ffwd.hidden --resume")


def test_an_sae_whose_weights_are_not_finite_is_refused_in_one_line(runs, tmp_path, capsys):
    """A diverged SAE (NaN weights) is a one-line refusal wherever it is opened: features lists
    it, shows one of its features, and the web lab's panel reads it."""
    import shutil

    from safetensors.torch import load_file, save_file

    from attnlab.labs.sae.lab import load_sae

    run = tmp_path / "r"
    shutil.copytree(runs / "r", run, symlinks=True)
    sae_dir = find_sae(run, None)
    weights = next(sae_dir.glob("checkpoint-*/model.safetensors"))
    tensors = load_file(weights)
    save_file({k: torch.full_like(v, float("nan")) for k, v in tensors.items()}, weights)
    with pytest.raises(UserError, match="has NaN or infinite weights .* attnlab sae --run .* --overwrite"):
        load_sae(run, sae_dir)
    for argv in (["features", "--run", str(run)], ["features", "--run", str(run), "--feature", "3"]):
        assert cli_main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "NaN or infinite weights" in err[0]
