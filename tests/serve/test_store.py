"""serve/store.py: which run folders the lab opens (only attnlab's GPT runs inside --runs, never a
path), a model loaded once and again when its folder changes, and the one-line refusals."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("starlette", reason="attnlab serve needs starlette: pip install -e '.[serve]'")
pytest.importorskip("uvicorn", reason="attnlab serve needs uvicorn: pip install -e '.[serve]'")

from serve_helpers import RUN_TEXT as TEXT  # noqa: E402
from train_helpers import one_thread  # noqa: E402,F401 (an autouse fixture)


def test_lists_only_marked_runs_inside_the_folder(lab):
    status, _, raw = lab.request("GET", "/api/models")
    assert status == 200
    assert [m["run"] for m in json.loads(raw)["models"]] == ["inside", "r"]  # sorted; no escape, plain, hidden
    for name in ("escape", "plain", ".hidden", "dangling", "../r", "r/../r", "/r", "secret", "../elsewhere/secret"):
        status, answer = lab.post("attention", {"run": name, "text": TEXT})
        assert status == 404 and answer["code"] == "unknown_model", (name, answer)
    assert lab.ok("attention", {"run": "inside", "text": TEXT})["tokens"] == list(TEXT.replace(" ", "␣"))


# ---- without a server ----------------------------------------------------------------------------

def test_a_request_names_one_model_and_an_unknown_one_is_a_404(runs):
    from attnlab.errors import UserError
    from attnlab.serve.store import ModelStore

    without, with_minilm = ModelStore(runs, minilm=False), ModelStore(runs, minilm=True)
    for store, body, status, code, words in (
            (without, {}, 400, "no_model", "name one model"),
            (without, {"run": "r", "model": "minilm"}, 400, "no_model", "name one model"),
            (without, {"run": 7}, 400, "bad_type", "a run folder's name"),
            (without, {"run": "escape"}, 404, "unknown_model", "no run 'escape' under the runs folder"),
            (without, {"model": "minilm"}, 404, "unknown_model", "MiniLM is not installed"),
            (with_minilm, {"model": "gpt-5"}, 404, "unknown_model", "the only one is minilm")):
        with pytest.raises(UserError, match=words) as caught:
            store.get(body)
        assert (caught.value.status, caught.value.code) == (status, code), body


def test_the_listing_gives_each_models_size_and_caps_without_loading_it(runs):
    from attnlab.runs.checkpoint import read_run_config
    from attnlab.serve.limits import Size, caps
    from attnlab.serve.store import MINILM, ModelStore

    store = ModelStore(runs, minilm=True)
    listing = store.listing()
    assert [m.get("run", m.get("model")) for m in listing] == ["inside", "r", "minilm"]
    config = read_run_config(runs / "r")[0]
    assert listing[1] == {"run": "r", "label": "r", "kind": "gpt", "layers": 2, "heads": 2, "max_tokens": 64,
                          "caps": caps(Size(2, 2, config.d_model, config.vocab_size, 64))}
    assert listing[2]["caps"] == caps(MINILM) and listing[2]["kind"] == "encoder"
    assert store._loaded == {}  # listed, not loaded


def test_a_model_is_loaded_once_and_again_when_its_folder_commits(runs, tmp_path):
    import os
    import shutil

    from attnlab.serve.store import ModelStore, run_identity

    shutil.copytree(runs / "r", tmp_path / "runs" / "r", symlinks=True)
    store = ModelStore(tmp_path / "runs", minilm=False)
    first = store.get({"run": "r"})
    assert store.get({"run": "r"}) is first
    assert not first.source.model.training and not any(p.requires_grad for p in first.source.model.parameters())
    state = tmp_path / "runs" / "r" / "state.json"
    before = run_identity(state.parent)
    os.utime(state, ns=(state.stat().st_atime_ns, state.stat().st_mtime_ns + 10**9))  # a new commit's time
    assert run_identity(state.parent) != before
    again = store.get({"run": "r"})
    assert again is not first and again.lock is not first.lock  # requests on the old model finish on its lock
    assert again.gate is first.gate  # the name's requests in flight are still counted together
    assert store.get({"run": "r"}) is again


def test_the_identity_of_a_run_without_some_files_names_them_none(tmp_path):
    from attnlab.serve.store import IDENTITY_FILES, run_identity

    (tmp_path / "config.json").write_text("{}")
    identity = run_identity(tmp_path)
    assert len(identity) == 1 + len(IDENTITY_FILES)
    assert identity[0] is not None and identity[2] is not None  # the folder, config.json
    assert identity[1] is None and identity[3] is None  # no state.json (an import-hf run), no model.safetensors
