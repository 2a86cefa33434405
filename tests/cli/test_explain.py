"""`attnlab explain` (cli/explain.py): seed 004's and seed 000's worked examples, given vectors and
a JSON file, the causal mask, one-line errors, and a head of a run or of MiniLM explained with the
weights the model computes."""

import json

import pytest
import torch

from cli_helpers import assert_user_error, needs_minilm, run_cli, step_block, ANIMAL
from attnlab.look.capture import capture_attention


def test_explain_without_arguments_is_seed_004(capsys):
    rc, out, _ = run_cli(capsys, "explain")
    assert rc == 0
    row = next(line for line in out.splitlines() if line.strip().startswith("0:나는") and "0.211" in line)
    assert row.split()[1:] == ["0.211", "0.211", "0.078"]
    assert "0.422" in out and "0.155" in out and "0.156" in out  # the real value and the seed's rounding


def test_explain_given_vectors_and_json(capsys, tmp_path):
    rc, out, _ = run_cli(capsys, "explain", "--q", "[[1,0,0],[0,1,0],[0,0,1]]", "--k", "1,1,0; 1,0,1; 0,1,1",
                         "--v", "[[0.5,0,0],[0,0.5,0],[0,0,0.5]]", "--no-scale", "--token", "0", "--decimals", "4")
    assert rc == 0
    assert "[0.2112, 0.2112, 0.0777]" in out
    path = tmp_path / "qkv.json"
    path.write_text(json.dumps({"q": [[1, 0]], "k": [[1, 0], [0, 1]], "v": [[2, 0], [0, 2]], "tokens": ["a"]}))
    rc, out, _ = run_cli(capsys, "explain", "--json", path, "--token", "0")
    assert rc == 0
    w = torch.softmax(torch.tensor([1.0, 0.0]) / 2 ** 0.5, dim=0)  # default scale 1/sqrt(D)
    assert f"{2 * w[0].item():.3f}, {2 * w[1].item():.3f}" in out


def test_explain_seed_000_weighted_sum(capsys):
    rc, out, _ = run_cli(capsys, "explain", "--weights", "[0.1, 0.8, 0.1]", "--values", "[[10,10],[100,100],[5,5]]")
    assert rc == 0
    assert step_block(out, "out").split() == ["0", "81.500", "81.500"]
    assert step_block(out, "contribution").split() == ["0", "1.414", "113.137", "0.707"]
    assert out.splitlines()[-1].startswith("By weight token 1 gets 80.0% of token 0's attention")
    assert "98.2% of the new token 0 vector" in out.splitlines()[-1]


def test_explain_causal_mask(capsys):
    rc, out, _ = run_cli(capsys, "explain", "--q", "1,0; 0,1", "--k", "1,0; 0,1", "--v", "1,2; 3,4", "--causal",
                         "--token", "0")
    assert rc == 0
    assert "[1.000, 2.000]" in out  # the first token sees only itself


@pytest.mark.parametrize("argv, match", [
    (["--q", "[[1,0]]", "--k", "[[1,0]]"], "all three"),
    (["--q", "[[1,0]]", "--k", "[[1,0,0]]", "--v", "[[1]]"], "same last dimension"),
    (["--q", "one,two", "--k", "1", "--v", "1"], "cannot read"),
    (["--q", "[[1,0],[1]]", "--k", "1", "--v", "1"], "equal-length"),
    (["--weights", "[1]"], "both --weights and --values"),
    (["--weights", "[0.5, 0.5]", "--values", "[[1]]"], "do not fit"),
    (["--token", "3"], "--token 3 is out of range"),
    (["--json", "/nonexistent/file.json"], "No such file"),
    (["--q", "1", "--k", "1", "--v", "1", "--model", "minilm"], "not both"),
    (["--model", "minilm"], "need --text"),
])
def test_explain_bad_input(capsys, argv, match):
    assert_user_error(capsys, "explain", *argv, match=match)


def test_attention_and_explain_for_a_run(capsys, fake_run, tmp_path):
    run_dir, model, tokenizer = fake_run
    rc, out, _ = run_cli(capsys, "attention", "abc cab", "--run", run_dir, "--layer", "1", "--head", "1")
    assert rc == 0 and "blocks.1.attn, head 1" in out
    rc, out, _ = run_cli(capsys, "explain", "--run", run_dir, "--text", "abc", "--layer", "1", "--head", "0",
                         "--token", "2")
    assert rc == 0
    with torch.no_grad(), capture_attention(model) as maps:
        model(torch.tensor([tokenizer.encode("abc")]))
    expected = "  ".join(f"{j}:{c}={w:.3f}" for j, (c, w) in enumerate(zip("abc", maps["blocks.1.attn"][0, 0, 2])))
    assert step_block(out, "blocks.1.attn.weights").strip() == f"2:c: {expected}"
    assert "blocks.1.out" in out and "logits" in out
    assert_user_error(capsys, "attention", "a" * 13, "--run", run_dir, match="at most 12")
    assert_user_error(capsys, "explain", "--run", run_dir, "--text", "abc", "--layer", "2", match="layers 0..1")
    assert_user_error(capsys, "explain", "--run", run_dir, "--text", "abc", "--token", "3", match="tokens 0..2")
    assert_user_error(capsys, "attention", "abc", "--run", tmp_path / "missing", match="no run folder")


@needs_minilm
def test_explain_a_minilm_head(capsys, minilm):
    rc, out, _ = run_cli(capsys, "explain", "--model", "minilm", "--text", ANIMAL, "--layer", "3", "--head", "1",
                         "--token", "10")
    assert rc == 0
    weights_row = step_block(out, "blocks.3.attn.weights")
    assert "2:animal=0.677" in weights_row and "8:street=0.050" in weights_row
