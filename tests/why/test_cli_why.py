"""`attnlab lens` (and `explain`) through `main([...])` on a tiny trained run: the JSON
contract, the pictures, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tool_helpers import PROMPT, json_out, one_line_error, tiny_run
from train_helpers import cli_main, one_thread  # noqa: F401 (an autouse fixture)

from attnlab.runs.checkpoint import load_model


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A tiny run of two layers of two heads, trained once for the module."""
    return tiny_run(tmp_path_factory.mktemp("why"), "--n-layers", "2")


def test_lens_json_table_and_pictures(run_dir, capsys, tmp_path):
    data = json_out(capsys, "lens", PROMPT, "--run", run_dir, "--json")
    assert {"tokens", "layers", "top", "p_next"} <= set(data)
    T = len(PROMPT)  # a char run: one token per character
    assert data["layers"] == ["embed", "blocks.0.out", "blocks.1.out"]
    assert len(data["top"]) == len(data["p_next"]) == 3 and all(len(row) == T for row in data["p_next"])
    assert all(row[-1] is None for row in data["p_next"]) and all(0 <= p <= 1 for p in data["p_next"][2][:-1])
    png, page = tmp_path / "lens.png", tmp_path / "lens.html"
    assert cli_main(["lens", PROMPT, "--run", str(run_dir), "--png", str(png), "--html", str(page)]) == 0
    out = capsys.readouterr().out
    assert "blocks.1.out" in out and "mean p(next)" in out and f"wrote {png}" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = page.read_text(encoding="utf-8")
    assert "http" not in html.replace("http-equiv", "") and html.count("<tr>") == 1 + 3
    one_line_error(capsys, "lens", "F", "--run", run_dir, match="at least two tokens")


def test_explain_prints_the_seed_000_sentence(capsys):
    assert cli_main(["explain", "--weights", "[0.1,0.8,0.1]", "--values", "[[10,10],[100,100],[5,5]]",
                     "--tokens", "느금마,만수무강,ㅇㅈㄹ"]) == 0
    out = capsys.readouterr().out
    assert "113.137" in out and "0.982" in out
    assert "By weight 만수무강 gets 80.0% of 느금마's attention" in out
    assert "98.2% of the new 느금마 vector" in out


def test_lens_on_an_imported_gpt2_matches_transformers(tmp_path, capsys):
    """A run made by import-hf: the lens's last layer is transformers' own next-token probability."""
    pytest.importorskip("transformers")
    from interop.test_export import save_bpe_folder

    hf = save_bpe_folder(tmp_path / "hf")
    assert cli_main(["import-hf", str(tmp_path / "hf"), "--out", str(tmp_path / "run")]) == 0
    capsys.readouterr()
    data = json_out(capsys, "lens", "First Citizen: speak", "--run", tmp_path / "run", "--json")
    _, tokenizer = load_model(tmp_path / "run")
    ids = tokenizer.encode("First Citizen: speak")
    assert data["layers"] == ["embed", "blocks.0.out", "blocks.1.out"] and len(data["tokens"]) == len(ids)
    with torch.no_grad():
        probs = hf(torch.tensor([ids])).logits.softmax(-1)[0]  # (T, V)
    expected = [probs[t, ids[t + 1]].item() for t in range(len(ids) - 1)]
    assert data["p_next"][-1][:-1] == pytest.approx(expected, abs=1e-5)
