"""`attnlab ablate` (cli/ablate.py) through `main([...])` on a tiny trained run: the JSON contract on a
text and on the run's own split, the pictures, one-line errors, and `--json` equal to the web lab's
`/api/ablate` answer on the same input (one run, labs/ablation)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tool_helpers import PROMPT, json_out, one_line_error, tiny_run, web_lab
from train_helpers import cli_main, one_thread  # noqa: F401 (an autouse fixture)

from attnlab.runs.checkpoint import load_model


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A tiny run of two layers of two heads, trained once for the module."""
    return tiny_run(tmp_path_factory.mktemp("ablate"), "--n-layers", "2")


def test_ablate_text_and_split_json(run_dir, capsys, tmp_path):
    data = json_out(capsys, "ablate", "--run", run_dir, "--text", PROMPT, "--json")
    assert set(data) == {"baseline_loss", "heads"}
    assert [(h["layer"], h["head"]) for h in data["heads"]] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert all(set(h) == {"layer", "head", "zero", "mean"} for h in data["heads"])
    model, tokenizer = load_model(run_dir)
    ids = torch.tensor([tokenizer.encode(PROMPT)])
    with torch.no_grad():
        _, loss = model(ids[:, :-1], ids[:, 1:])
    assert data["baseline_loss"] == pytest.approx(loss.item(), abs=1e-6)
    data = json_out(capsys, "ablate", "--run", run_dir, "--split", "val", "--batches", "2", "--heads", "0.1,1.0",
                    "--json")
    assert data["set"]["heads"] == [[0, 1], [1, 0]] and isinstance(data["set"]["loss"], float)
    png = tmp_path / "ablate.png"
    assert cli_main(["ablate", "--run", str(run_dir), "--split", "val", "--batches", "1", "--png", str(png)]) == 0
    out = capsys.readouterr().out
    assert "most needed: layer" in out and png.is_file()
    one_line_error(capsys, "ablate", "--run", run_dir, "--text", PROMPT, "--heads", "0.5", match="--head 5")
    one_line_error(capsys, "ablate", "--run", run_dir, "--text", PROMPT, "--heads", "1-0", match="LAYER.HEAD")


@pytest.fixture(scope="module")
def lab(run_dir):
    with web_lab(run_dir.parent) as client:
        yield client


def test_json_is_the_web_labs_answer(run_dir, lab, capsys):
    """The page's request (its heads as [layer, head] pairs, the top 10 next tokens) and the
    command with the same settings print one object."""
    answer = lab.ok("ablate", {"run": "r", "text": PROMPT, "heads": [[0, 1], [1, 0]], "position": 4})
    cli = json_out(capsys, "ablate", "--run", run_dir, "--text", PROMPT, "--heads", "0.1,1.0", "--position", "4",
                   "--top", "10", "--json")
    assert answer == cli
    assert set(cli) == {"baseline_loss", "heads", "set", "next"} and cli["next"]["position"] == 4
    assert len(cli["next"]["baseline"]) == 10
    assert cli["next"]["actual"]["token"] == "␣" == PROMPT[5].replace(" ", "␣")  # the char run's label of a space
    quick = lab.ok("ablate", {"run": "r", "text": PROMPT, "heads": [], "each": False})  # a click on the page
    assert quick == json_out(capsys, "ablate", "--run", run_dir, "--text", PROMPT, "--heads", "", "--no-each",
                             "--top", "10", "--json")
    assert set(quick) == {"baseline_loss", "set", "next"} and quick["set"] == {"heads": [],
                                                                                 "loss": quick["baseline_loss"]}


@pytest.mark.parametrize("body, code", [({"heads": [[0, 9]]}, "bad_input"), ({"heads": [[0, True]]}, "bad_type"),
                                        ({"heads": "0.1"}, "bad_type"), ({"position": 16}, "out_of_range"),
                                        ({"split": "val"}, "bad_value"), ({"top": 3}, "bad_value"),
                                        ({"text": "F"}, "too_few_tokens"), ({"each": "no"}, "bad_type")])
def test_the_web_lab_refuses_what_the_command_refuses(lab, body, code):
    status, answer = lab.post("ablate", {"run": "r", "text": PROMPT, **body})
    assert status == 400 and answer["code"] == code, answer


def test_top_and_no_each_in_words(run_dir, capsys, tmp_path):
    assert cli_main(["ablate", "--run", str(run_dir), "--text", PROMPT, "--heads", "1.1", "--top", "3",
                     "--position", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-5] == "the likeliest next tokens after position 2: without the set / with it"
    assert out[-1].startswith("the real next token 's': p ")
    assert cli_main(["ablate", "--run", str(run_dir), "--text", PROMPT, "--heads", "1.1", "--no-each"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and out[1].startswith("heads 1.1 zeroed together: loss")
    one_line_error(capsys, "ablate", "--run", run_dir, "--text", PROMPT, "--no-each", "--png", tmp_path / "a.png",
                   match="leave out --no-each")
    one_line_error(capsys, "ablate", "--run", run_dir, "--text", PROMPT, "--split", "val", match="one of --text")
    one_line_error(capsys, "ablate", "--run", run_dir, "--split", "val", "--top", "3", match="--top goes with --text")


def test_settings_from_a_toml_file(run_dir, capsys, tmp_path):
    config = tmp_path / "ablate.toml"
    config.write_text(f'run = "{run_dir}"\nsplit = "val"\nbatches = 1\nheads = "0.0"\n', encoding="utf-8")
    data = json_out(capsys, "ablate", "--config", config, "--json")
    assert data["set"]["heads"] == [[0, 0]]
    assert data == json_out(capsys, "ablate", "--run", run_dir, "--split", "val", "--batches", "1", "--heads", "0.0",
                            "--json")
    config.write_text('run = "r"\nsplits = "val"\n', encoding="utf-8")
    one_line_error(capsys, "ablate", "--config", config, match="splits")
