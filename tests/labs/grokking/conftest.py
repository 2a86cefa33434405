"""The grokking workspace the bad-input table (test_bad_inputs.py) and the dtype test (test_lab.py)
copy: made once per session."""

import json

import pytest
import torch

from grokking_helpers import G, OLD

from attnlab.cli import main
from attnlab.runs.folder import MARKER, RUN_FILES


@pytest.fixture(scope="session")
def workspace(tmp_path_factory):
    """A learner's own folder, a language model's run (another kind) and a short grokking run."""
    ws = tmp_path_factory.mktemp("grok-ws")
    (ws / "proj").mkdir()
    (ws / "proj" / "notes.md").write_text("my notes\n", encoding="utf-8")
    lm = ws / "runs" / "lm"  # what `attnlab train` leaves, as the folder rules see it: its marker and files
    lm.mkdir(parents=True)
    (lm / MARKER).write_text(json.dumps({"written_by": "attnlab", "what": "run folder", "files": list(RUN_FILES)}))
    (lm / "config.json").write_text('{"model": {}, "train": {}}\n', encoding="utf-8")
    (lm / "state.json").write_text('{"step": 6}\n', encoding="utf-8")
    torch.set_num_threads(1)
    assert main([*G, *OLD, "--out-dir", str(ws / "runs" / "g"), "--json"]) == 0
    return ws
