"""serve/api_features.py without training an SAE: the request's arguments, a run without an SAE
(an answer, not an error), a named SAE that is not there (404), MiniLM (no run), and the browser
built once per run, SAE and checkpoint (the panel on a real SAE: tests/labs/sae/)."""

from __future__ import annotations

import pytest

pytest.importorskip("starlette", reason="attnlab serve needs starlette: pip install -e '.[serve]'")

from train_helpers import one_thread  # noqa: E402,F401 (an autouse fixture)

import attnlab.serve.api_features as api_features  # noqa: E402
from attnlab.errors import UserError  # noqa: E402
from attnlab.serve.store import ModelStore  # noqa: E402


def refused(call, status: int, code: str) -> str:
    with pytest.raises(UserError) as caught:
        call()
    assert (caught.value.status, caught.value.code) == (status, code), caught.value
    return str(caught.value)


def test_kind_and_sae_are_checked():
    assert api_features.kind_arg({}) == "feature" and api_features.kind_arg({"kind": "neuron"}) == "neuron"
    assert api_features.sae_arg({}) is None and api_features.sae_arg({"sae": "sae-x"}) == "sae-x"
    refused(lambda: api_features.kind_arg({"kind": "head"}), 400, "bad_value")
    refused(lambda: api_features.sae_arg({"sae": 3}), 400, "bad_type")
    refused(lambda: api_features.sae_arg({"sae": "s" * 201}), 400, "bad_type")


def test_a_run_without_an_sae_is_a_note_and_a_missing_named_one_a_404(runs):
    shared = ModelStore(runs, minilm=False).get({"run": "r"})
    answer = api_features.features(shared, {"run": "r"})
    assert answer["sae"] is None and "holds no SAE yet: train one with attnlab sae --run" in answer["note"]
    words = refused(lambda: api_features.features(shared, {"run": "r", "sae": "sae-nope"}), 404, "no_sae")
    assert "no SAE named 'sae-nope'" in words
    refused(lambda: api_features.features(shared, {"run": "r", "kind": "head"}), 400, "bad_value")


def test_a_model_without_a_run_folder_is_refused(runs):
    shared = ModelStore(runs, minilm=False).get({"run": "r"})
    shared.folder = None  # as MiniLM's
    refused(lambda: api_features.browser_for(shared, {}), 400, "needs_gpt")


def test_the_browser_is_built_once_per_run_sae_and_checkpoint(runs, tmp_path, monkeypatch):
    shared = ModelStore(runs, minilm=False).get({"run": "r"})
    checkpoints = {"sae": "checkpoint-000010"}
    built = []
    monkeypatch.setattr(api_features, "find_sae", lambda folder, name: tmp_path / (name or "sae-default"))
    monkeypatch.setattr(api_features, "committed_checkpoint_name",
                        lambda folder: checkpoints["sae"] if folder.name.startswith("sae-") else "checkpoint-run")
    monkeypatch.setattr(api_features, "open_browser",
                        lambda folder, name, tokens, opened: built.append((name, tokens, opened)) or (object(),))
    monkeypatch.setattr(api_features, "_cache", {})
    first, name = api_features.browser_for(shared, {})
    assert name == "sae-default" and built == [("sae-default", api_features.TOKENS, shared.source)]
    assert api_features.browser_for(shared, {})[0] is first and len(built) == 1  # kept
    checkpoints["sae"] = "checkpoint-000020"  # the SAE trained further: measured anew
    assert api_features.browser_for(shared, {})[0] is not first and len(built) == 2
    api_features.browser_for(shared, {"sae": "sae-other"})
    assert [b[0] for b in built] == ["sae-default", "sae-default", "sae-other"]
    assert len(api_features._cache) == 1  # one browser kept: each holds every token's activations
