"""`attnlab attribute` (cli/attribute.py) through `main([...])` on a tiny trained run: the table and
its sum, the pictures, TEXT first or --text, a TOML file, and `--json` equal to the web lab's
`/api/attribute` answer on the same input (one run, labs/attribution)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tool_helpers import PROMPT, json_out, tiny_run, web_lab
from train_helpers import cli_main, one_thread  # noqa: F401 (an autouse fixture)

from attnlab.runs.checkpoint import load_model


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A tiny run of two layers, trained once for the module."""
    return tiny_run(tmp_path_factory.mktemp("attribute"), "--n-layers", "2")


@pytest.fixture(scope="module")
def lab(run_dir):
    with web_lab(run_dir.parent) as client:
        yield client


def test_json_is_the_web_labs_answer(run_dir, lab, capsys):
    for body, flags in (({}, []), ({"answer": "i", "wrong": "e", "position": 3}, ["--answer", "i", "--wrong", "e",
                                                                                  "--position", "3"])):
        answer = lab.ok("attribute", {"run": "r", "text": PROMPT, **body})
        assert answer == json_out(capsys, "attribute", PROMPT, "--run", run_dir, *flags, "--json")
    assert (answer["position"], answer["answer"], answer["wrong"]) == (3, "i", "e")
    model, tokenizer = load_model(run_dir)
    with torch.no_grad():
        logits = model(torch.tensor([tokenizer.encode(PROMPT)]))[0][0, 3]
    ld = (logits[tokenizer.encode("i")[0]] - logits[tokenizer.encode("e")[0]]).item()
    assert answer["ld"] == pytest.approx(ld, abs=1e-5)
    assert sum(p["value"] for p in answer["parts"]) == pytest.approx(ld, abs=1e-4)
    for body, code in (({"position": 16}, "out_of_range"), ({"answer": "ab"}, "bad_value"),
                       ({"text": "F" * 17}, "too_many_tokens"), ({"wrong": 5}, "bad_type")):
        status, refused = lab.post("attribute", {"run": "r", "text": PROMPT, **body})
        assert status == 400 and refused["code"] == code, refused


def test_the_table_the_pictures_and_the_ways_to_give_settings(run_dir, capsys, tmp_path):
    png, page = tmp_path / "a.png", tmp_path / "a.html"
    assert cli_main(["attribute", PROMPT, "--run", str(run_dir), "--png", str(png), "--html", str(page)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("run r: direct logit attribution at position 15 ('h'): LD = logit[")
    assert [line.split()[0] for line in out[2:5]] == ["embed", "head", "head"] and out[-3].startswith("largest: ")
    assert out[-2:] == [f"wrote {png}", f"wrote {page}"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "http" not in page.read_text().replace("http-equiv", "")
    data = json_out(capsys, "attribute", "--text", PROMPT, "--run", run_dir, "--json")
    config = tmp_path / "attribute.toml"
    config.write_text(f'run = "{run_dir}"\ntext = "{PROMPT}"\n', encoding="utf-8")
    assert json_out(capsys, "attribute", "--config", config, "--json") == data
