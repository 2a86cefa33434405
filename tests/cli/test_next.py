"""`attnlab next` (cli/next.py) through `main([...])` on a tiny trained run: the table, a TOML file,
and `--json` equal to the web lab's `/api/next` answer on the same input (one run, labs/sampling)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tool_helpers import PROMPT, json_out, tiny_run, web_lab
from train_helpers import cli_main, one_thread  # noqa: F401 (an autouse fixture)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A tiny run, trained once for the module."""
    return tiny_run(tmp_path_factory.mktemp("next"))


def test_json_is_the_web_labs_answer(run_dir, capsys):
    with web_lab(run_dir.parent) as lab:
        for body, flags in (({"temperature": 0.5, "top_k": 3, "top_p": 1.0, "n": 12},
                             ["--temperature", "0.5", "--top-k", "3", "--top-p", "1", "--n", "12"]),
                            ({"temperature": 1.5, "top_k": None, "top_p": 0.6, "n": 24},
                             ["--temperature", "1.5", "--top-k", "none", "--top-p", "0.6", "--n", "24"]),
                            ({"temperature": 0, "n": 5}, ["--temperature", "0", "--n", "5"])):
            answer = lab.ok("next", {"run": "r", "text": PROMPT, **body})
            cli = json_out(capsys, "next", "--run", run_dir, "--prompt", PROMPT, *flags, "--json")
            # what the page leaves out is every token kept at temperature 1 (its old defaults)
            assert answer == {**cli, "top_k": body.get("top_k"), "top_p": body.get("top_p", 1.0)}
            assert answer["bars"] == cli["bars"] and answer["kept"] == cli["kept"] and len(cli["bars"]) == body["n"]
        for body, code in (({"n": 0}, "out_of_range"), ({"top_k": 10 ** 6}, "out_of_range"),
                           ({"temperature": 6}, "out_of_range"), ({"temperature": 10 ** 400}, "bad_type"),
                           ({"text": ""}, "empty_text"), ({"prompt": "x"}, "bad_value")):
            status, refused = lab.post("next", {"run": "r", "text": PROMPT, **body})
            assert status == 400 and refused["code"] == code, (body, refused)


def test_the_table_and_a_toml_file(run_dir, capsys, tmp_path):
    assert cli_main(["next", "--run", str(run_dir), "--prompt", PROMPT, "--top-k", "2", "--n", "4"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "run r: the next token after 'First Citizen: h', temperature 0.8, top-k 2, top-p all"
    assert out[1].startswith("2 of ") and len(out) == 3 + 4 and out[-1].endswith("cut")
    config = tmp_path / "next.toml"
    config.write_text(f'run = "{run_dir}"\nprompt = "{PROMPT}"\ntop_k = 2\nn = 4\n', encoding="utf-8")
    assert json_out(capsys, "next", "--config", config, "--json") == json_out(
        capsys, "next", "--run", run_dir, "--prompt", PROMPT, "--top-k", "2", "--n", "4", "--json")
