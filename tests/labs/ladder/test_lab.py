"""attnlab.labs.ladder.lab: the ladder as a lab: its `--json` object, what it prints, and the web
lab's answer."""

from __future__ import annotations

import json

from train_helpers import cli_main, one_thread  # noqa: E402,F401 (an autouse fixture)

from attnlab.labs.ladder.lab import LadderResult, interrupted_line, report

QUICK = dict(steps=2, eval_iters=2)  # a whole ladder in seconds (as the CLI call in `ladder`)


def test_the_web_lab_answers_what_the_command_prints(tmp_path, capsys):
    """POST /api/ladder climbs the same ladder into runs/web-ladder: the numbers of a fresh CLI
    ladder, and, the folder being a ladder's, exactly what `attnlab ladder --json` then prints
    there (it reuses the rungs the web lab trained)."""
    from starlette.testclient import TestClient

    from attnlab.serve.app import make_app
    from attnlab.serve.store import ModelStore

    runs = tmp_path / "runs"
    client = TestClient(make_app(ModelStore(runs, minilm=False), loopback=False))
    answer = client.post("/api/ladder", json={"corpus": "shakespeare", **QUICK})
    assert answer.status_code == 200, answer.text
    web = answer.json()
    flags = ["ladder", "--corpus", "shakespeare", "--steps", "2", "--eval-iters", "2", "--json", "--no-progress"]
    assert cli_main([*flags, "--out-dir", str(runs / "web-ladder")]) == 0
    assert json.loads(capsys.readouterr().out) == web
    assert cli_main([*flags, "--out-dir", str(tmp_path / "fresh")]) == 0
    fresh = json.loads(capsys.readouterr().out)
    assert [(r["name"], r["params"], r["val_loss"]) for r in fresh["rungs"]] == \
        [(r["name"], r["params"], r["val_loss"]) for r in web["rungs"]]
    for body, status, code in (({"corpus": str(tmp_path)}, 400, "bad_value"), ({"steps": 0}, 400, "bad_input"),
                               ({"out_dir": "x"}, 400, "bad_value"), ({"steps": 10 ** 5}, 413, "over_budget")):
        got = client.post("/api/ladder", json=body)
        assert (got.status_code, got.json()["code"]) == (status, code), got.text


def record(name, loss, run, **extra):
    return {"name": name, "added": f"adds {name}", "params": 1000, "val_loss": loss, "seconds": 1.5, "run": run,
            "finished": loss is not None, "step": 2, "config": {}, **extra}


def test_the_json_keeps_five_keys_of_each_rung_in_order():
    result = LadderResult("runs/l", [record("bigram", 2.5, "runs/l/1-bigram", corpus_sha256="ab")], False)
    assert result.to_json() == {"rungs": [{"name": "bigram", "params": 1000, "val_loss": 2.5, "seconds": 1.5,
                                           "run": "runs/l/1-bigram"}]}
    assert list(result.to_json()["rungs"][0]) == ["name", "params", "val_loss", "seconds", "run"]


def test_the_report_is_the_table_the_files_and_what_to_try_next():
    done = LadderResult("runs/my ladder", [record("bigram", 2.5, "runs/my ladder/1-bigram"),
                                           record("one-head", 2.25, "runs/my ladder/2-one-head")], False)
    lines = report(done)
    assert lines[0].splitlines()[0].split() == ["rung", "name", "what", "it", "adds", "params", "val", "loss", "Δ",
                                                "time"]
    assert lines[0].splitlines()[2].split()[-3:] == ["-0.250", "2", "s"]
    assert lines[1:] == ["\nfiles: runs/my ladder/ (ladder.md, ladder.png, ladder.json, a run folder per rung)",
                         "next:", "  attnlab generate --run 'runs/my ladder/2-one-head' --max-new-tokens 300",
                         "  attnlab attention TEXT --run 'runs/my ladder/2-one-head'   # the single head's map"]
    one = report(LadderResult("runs/l", [record("bigram", 2.5, "runs/l/1-bigram")], False))
    assert one[-1] == "  attnlab generate --run runs/l/1-bigram --max-new-tokens 300"  # no head to show
    stopped = LadderResult("runs/l", [record("bigram", 2.5, "runs/l/1-bigram"), record("one-head", None, "x")], True)
    assert interrupted_line(stopped) == "interrupted in rung 2 (one-head): run the same command again to continue"
    assert report(stopped)[-1] == interrupted_line(stopped) and "next:" not in report(stopped)


def test_a_ladder_too_short_to_rank_its_rungs_says_so():
    """Each rung adds a part to the one before: a rung that ended above the one before it means the
    rungs were not trained long enough to rank (a 500-step ladder put one-head above bigram)."""
    short = LadderResult("runs/l", [record("bigram", 2.5, "runs/l/1-bigram"), record("one-head", 2.6, "runs/l/2"),
                                    record("multi-head", 2.4, "runs/l/3")], False)
    lines = report(short)
    assert ("\nnot yet ranked: one-head ended above bigram (2.600 > 2.500) after 2 steps a rung; the parts show "
            "what they buy with the default --steps 5000") in lines
    assert lines[2].startswith("\nnot yet ranked") and lines[3] == "next:"  # before the next commands
    ranked = LadderResult("runs/l", [record("bigram", 2.5, "runs/l/1-bigram"), record("one-head", 2.4, "runs/l/2")],
                          False)
    assert not any(line.startswith("\nnot yet ranked") for line in report(ranked))
