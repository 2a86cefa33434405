"""attnlab.labs.ladder.rungs: the rungs' settings, a short ladder end to end (its files, the rungs
as run folders), reuse, resume and refusals."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
from pathlib import Path

import pytest
import torch

from train_helpers import TEXT, cli_main, one_thread  # noqa: E402,F401 (an autouse fixture)

from attnlab.runs.checkpoint import load_model  # noqa: E402
from attnlab.runs.metrics import read_metrics  # noqa: E402
from attnlab.config import MODEL_FIELDS  # noqa: E402
from attnlab.errors import UserError  # noqa: E402
from attnlab.labs.ladder.rungs import RUNGS, SCALED, ladder_rungs, rung_config, run_ladder  # noqa: E402

NAMES = ["bigram", "one-head", "multi-head", "feed-forward", "residual", "layernorm"]
QUICK = dict(steps=2, eval_iters=2)  # a whole ladder in seconds (as the CLI call in `ladder`)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def ladder(tmp_path_factory, corpus) -> tuple[Path, list[str]]:
    """A short ladder run once through the CLI: (its folder, its stdout lines)."""
    folder = tmp_path_factory.mktemp("ladder") / "ladder"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        from contextlib import redirect_stdout
        from io import StringIO

        out = StringIO()
        with redirect_stdout(out):
            code = cli_main(["ladder", "--corpus", str(corpus), "--steps", "2", "--eval-iters", "2",
                             "--out-dir", str(folder), "--json", "--no-progress"])
        assert code == 0
    finally:
        torch.set_num_threads(threads)
    return folder, out.getvalue().splitlines()


def test_rungs_share_everything_but_the_model():
    configs = [rung_config(rung, "shakespeare") for rung in RUNGS]
    assert [rung.name for rung in RUNGS] == NAMES and ladder_rungs(scaled=True)[-1] is SCALED
    rates = ("learning_rate", "min_lr")  # each model keeps the lecture's rate for it (constant)
    shared = [{k: v for k, v in c.to_dict().items() if k not in MODEL_FIELDS + rates} for c in configs]
    assert all(s == shared[0] for s in shared)  # data, seed, batches, steps, schedule
    assert [c.learning_rate for c in configs] == [1e-2] + [1e-3] * 5  # bigram.py's, then v2.py's
    assert all(c.min_lr == c.learning_rate for c in configs)
    lecture = configs[1]
    assert (lecture.block_size, lecture.batch_size, lecture.max_iters, lecture.seed) == (8, 32, 5000, 1337)
    assert lecture.learning_rate == lecture.min_lr == 1e-3 and lecture.warmup_iters == 0  # constant
    assert (lecture.eval_interval, lecture.eval_iters) == (500, 200)
    assert {c.init for c in configs} == {"torch"}  # PyTorch's own initialisation, as in the lecture
    bigram, one, multi, ffn, residual, norm = (c.model_config(65) for c in configs)
    assert bigram.bigram and not one.bigram
    assert (one.n_heads, one.d_head, one.ffn, one.residual, one.attn_proj, one.norm) == (1, 32, False, False,
                                                                                        False, "none")
    assert (multi.n_heads, multi.d_head) == (4, 8) and ffn.ffn and ffn.d_ff == 32 and not ffn.residual
    assert residual.residual and residual.attn_proj and residual.d_ff is None and residual.norm == "none"
    assert norm.norm == "pre" and norm.n_layers == residual.n_layers == 3
    scaled = rung_config(SCALED, "shakespeare").model_config(65)
    assert (scaled.n_layers, scaled.n_heads, scaled.d_model, scaled.max_seq_len, scaled.dropout) == (
        6, 6, 384, 256, 0.2)


def test_short_ladder_writes_the_table_picture_and_json(ladder):
    folder, lines = ladder
    result = json.loads("\n".join(lines))
    assert list(result) == ["rungs"]
    rungs = result["rungs"]
    assert [r["name"] for r in rungs] == NAMES
    for index, r in enumerate(rungs, 1):
        assert list(r) == ["name", "params", "val_loss", "seconds", "run"]
        assert isinstance(r["params"], int) and isinstance(r["val_loss"], float) and r["seconds"] > 0
        assert Path(r["run"]) == folder / f"{index}-{r['name']}"
        model, _ = load_model(r["run"])  # an ordinary run folder
        assert model.num_parameters() == r["params"]
        assert [m["step"] for m in read_metrics(r["run"]) if "val_loss" in m] == [0, 1, 2]
    assert rungs[0]["params"] < rungs[1]["params"] < rungs[3]["params"] < rungs[4]["params"] < rungs[5]["params"]
    assert (folder / "ladder.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (folder / "ladder.md").read_text(encoding="utf-8")
    assert "| rung | name | what it adds | params | val loss | Δ | time |" in md and "(ladder.png)" in md
    assert all(f"| {name} |" in md for name in NAMES)
    saved = json.loads((folder / "ladder.json").read_text(encoding="utf-8"))
    assert [r["val_loss"] for r in saved["rungs"]] == [r["val_loss"] for r in rungs]


def test_a_second_ladder_reuses_finished_rungs(ladder, corpus, tmp_path):
    folder = tmp_path / "moved"
    shutil.copytree(ladder[0], folder)  # a moved ladder folder is still reused
    stamps = {p: p.stat().st_mtime_ns for p in folder.rglob("model.safetensors")}
    assert len(stamps) == 6
    events = []
    result = run_ladder(str(corpus), folder, on_event=lambda kind, info: events.append((kind, info)), **QUICK)
    assert [info["reused"] for kind, info in events if kind == "rung"] == [True] * 6
    assert not [kind for kind, _ in events if kind == "step"]
    assert {p: p.stat().st_mtime_ns for p in folder.rglob("model.safetensors")} == stamps
    first = json.loads((ladder[0] / "ladder.json").read_text(encoding="utf-8"))["rungs"]
    assert [r["val_loss"] for r in result["rungs"]] == [r["val_loss"] for r in first]
    assert result["rungs"][0]["run"] == str(folder / "1-bigram")
    # a rung recorded with other settings is trained again, the rest are not
    saved = json.loads((folder / "ladder.json").read_text(encoding="utf-8"))
    saved["rungs"][3]["config"]["seed"] = 7
    (folder / "ladder.json").write_text(json.dumps(saved), encoding="utf-8")
    events.clear()
    run_ladder(str(corpus), folder, on_event=lambda kind, info: events.append((kind, info)), **QUICK)
    assert [info["reused"] for kind, info in events if kind == "rung"] == [True] * 3 + [False] + [True] * 2


def test_a_ladder_stopped_by_ctrl_c_continues_where_it_stopped(ladder, corpus, tmp_path):
    def press_ctrl_c_in_rung_3(kind, info):
        if kind == "rung":
            state["rung"] = info["index"]
        if kind == "step" and state["rung"] == 3 and info["step"] == 1:
            os.kill(os.getpid(), signal.SIGINT)  # stop_on_ctrl_c turns it into a saved stop

    state = {"rung": 0}
    stopped = run_ladder(str(corpus), tmp_path, on_event=press_ctrl_c_in_rung_3, **QUICK)
    assert stopped["interrupted"] and [r["finished"] for r in stopped["rungs"]] == [True, True, False]
    events = []
    result = run_ladder(str(corpus), tmp_path, on_event=lambda kind, info: events.append((kind, info)), **QUICK)
    assert not result["interrupted"]
    assert [info["reused"] for kind, info in events if kind == "rung"] == [True, True] + [False] * 4
    assert [info["step"] for kind, info in events if kind == "start"][0] == 1  # rung 3 from its checkpoint
    first = json.loads((ladder[0] / "ladder.json").read_text(encoding="utf-8"))["rungs"]
    assert [r["val_loss"] for r in result["rungs"]] == [r["val_loss"] for r in first]  # as if never stopped


def test_bad_settings_fail_before_any_work(corpus, tmp_path):
    assert cli_main(["ladder", "--corpus", str(corpus), "--steps", "0", "--out-dir", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()
    (tmp_path / "y" / "1-bigram").mkdir(parents=True)
    (tmp_path / "y" / "1-bigram" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not created by attnlab"):
        run_ladder(str(corpus), tmp_path / "y", **QUICK)
    assert (tmp_path / "y" / "1-bigram" / "notes.txt").read_text() == "mine"


def test_the_last_rung_exports_to_hugging_face_and_the_others_say_why_not(ladder, tmp_path):
    pytest.importorskip("transformers")
    from attnlab.interop.export import export_hf

    folder = ladder[0]
    export_hf(folder / "6-layernorm", tmp_path / "gpt2")  # pre-LN with every part: a GPT-2
    assert (tmp_path / "gpt2" / "model.safetensors").is_file()
    with pytest.raises(ValueError, match=r"ffn=False.*residual=False.*attn_proj=False") as info:
        export_hf(folder / "2-one-head", tmp_path / "no")
    assert "norm='none'" in str(info.value) and not (tmp_path / "no").exists()


def test_the_rungs_open_in_the_viewers(ladder, capsys):
    folder = ladder[0]
    assert cli_main(["attention", "All: Sp", "--run", str(folder / "2-one-head")]) == 0
    assert "blocks.0.attn, head 0" in capsys.readouterr().out
    assert cli_main(["explain", "--run", str(folder / "5-residual"), "--text", "All: Sp", "--layer", "2"]) == 0
    assert "blocks.2.out" in capsys.readouterr().out
    assert cli_main(["attention", "All", "--run", str(folder / "1-bigram")]) == 2
    assert "is a bigram model: it has no attention to show" in capsys.readouterr().err
    assert cli_main(["generate", "--run", str(folder / "1-bigram"), "--prompt", "All", "--max-new-tokens", "5"]) == 0


def test_a_rung_too_large_for_the_memory_is_refused_before_it_trains(corpus, tmp_path):
    # every rung is an attnlab.train_run: the memory check of `attnlab train` comes with it
    with pytest.raises(UserError, match="available"):
        run_ladder(str(corpus), tmp_path / "big", d_model=65536, n_heads=1, n_layers=64, **QUICK)
    assert not (tmp_path / "big" / "2-one-head").exists()  # the bigram has no width to outgrow
