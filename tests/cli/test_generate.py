"""`attnlab generate` (cli/generate.py) through `main([...])`: a run trained by `attnlab train`
samples the same text from the same seed, from --run or --checkpoint; a prompt outside the
vocabulary, a damaged checkpoint or a missing folder is one line."""

from __future__ import annotations

import json
import os

import pytest
import torch

from cli_helpers import assert_one_line_error, train_args
from train_helpers import cli_main, one_thread  # noqa: F401 (an autouse fixture)

from attnlab.cli.generate import prompt_ids
from attnlab.errors import UserError
from attnlab.runs.checkpoint import checkpoint_dir, load_model
from attnlab.tokenizers.char import CharTokenizer


def test_train_then_generate(tmp_path, corpus, capsys):
    assert cli_main(train_args(tmp_path, corpus)) == 0
    run_dir = tmp_path / "runs" / "r"
    out = capsys.readouterr().out
    assert "step 6: train loss" in out and "--- sample" in out
    assert f"attnlab generate --run {run_dir} --prompt" in out
    assert "attnlab attention 'First Citizen: Before we' --run" in out  # the corpus lacks "To be, or not to be"
    config = json.loads((run_dir / "config.json").read_text())
    assert config["kind"] == "gpt" and config["tokenizer"] == "char"
    assert config["model"]["d_model"] == 16 and config["train"]["max_iters"] == 6
    for name in ("state.json", "metrics.jsonl", "loss.png", ".attnlab"):
        assert (run_dir / name).is_file(), name
    for name in ("model.safetensors", "optimizer.pt"):
        assert (checkpoint_dir(run_dir) / name).is_file(), name
    model, tokenizer = load_model(run_dir)
    assert not model.training and model.config.vocab_size == tokenizer.vocab_size

    args = ["generate", "--run", str(run_dir), "--prompt", "First", "--max-new-tokens", "20", "--seed", "3"]
    assert cli_main(args) == 0
    first = capsys.readouterr().out
    assert first.startswith("First") and len(first) >= len("First") + 20
    assert cli_main(args) == 0 and capsys.readouterr().out == first  # same seed, same text
    assert cli_main(["generate", "--checkpoint", str(checkpoint_dir(run_dir) / "model.safetensors"), "--prompt", "All",
                     "--max-new-tokens", "5", "--num-samples", "2", "--top-p", "0.9"]) == 0
    assert capsys.readouterr().out.count("All") >= 2


def test_prompt_outside_the_char_vocabulary(run_dir, capsys):
    code = cli_main(["generate", "--run", str(run_dir), "--prompt", "hello 세계"])
    assert_one_line_error(capsys, code, "'세'", "not in the char vocabulary")


@pytest.mark.parametrize("damage", ["missing", "truncated", "corrupted"])
def test_damaged_checkpoint(run_dir, capsys, damage):
    weights = checkpoint_dir(run_dir) / "model.safetensors"
    data = weights.read_bytes()
    if damage == "missing":
        weights.unlink()
    elif damage == "truncated":
        weights.write_bytes(data[: len(data) // 2])
    else:
        weights.write_bytes(b"\xff" * 64 + data[64:])
    code = cli_main(["generate", "--run", str(run_dir)])
    assert_one_line_error(capsys, code, "model.safetensors")


def test_missing_run_folder_for_generate(tmp_path, capsys):
    code = cli_main(["generate", "--run", str(tmp_path / "nope")])
    assert_one_line_error(capsys, code, "not found")
    assert not os.path.exists(tmp_path / "nope")


def test_temperature_0_is_the_argmax_of_a_forward_pass_over_the_whole_text(run_dir, capsys):
    args = ["generate", "--run", str(run_dir), "--prompt", "All:", "--max-new-tokens", "10", "--temperature", "0"]
    assert cli_main([*args, "--seed", "1"]) == 0
    text = capsys.readouterr().out
    assert cli_main([*args, "--seed", "2"]) == 0 and capsys.readouterr().out == text  # greedy: no seed matters
    model, tokenizer = load_model(run_dir)
    ids = tokenizer.encode("All:")
    with torch.no_grad():  # the reference: no KV cache, the whole text each step
        for _ in range(10):
            logits, _ = model(torch.tensor([ids]))
            ids.append(int(logits[0, -1].argmax()))
    assert text == tokenizer.decode(ids) + "\n"


def test_checkpoint_takes_the_weights_file_or_its_checkpoint_folder(run_dir, capsys):
    args = ["--prompt", "First", "--max-new-tokens", "12", "--seed", "5"]
    assert cli_main(["generate", "--run", str(run_dir), *args]) == 0
    expected = capsys.readouterr().out
    folder = checkpoint_dir(run_dir)
    assert folder.name.startswith("checkpoint-")
    for given in (folder, folder / "model.safetensors"):
        assert cli_main(["generate", "--checkpoint", str(given), *args]) == 0
        assert capsys.readouterr().out == expected, given


def test_the_default_prompt_is_a_newline_or_else_the_first_token_with_a_note(capsys):
    with_newline = CharTokenizer.train("ab\nc")
    assert prompt_ids(with_newline, None) == ("\n", with_newline.encode("\n"))
    assert prompt_ids(with_newline, "ba") == ("ba", with_newline.encode("ba"))
    assert capsys.readouterr().err == ""
    without = CharTokenizer.train("bca")
    assert prompt_ids(without, None) == ("a", [0])  # the vocabulary's first token
    assert "has no newline" in capsys.readouterr().err
    with pytest.raises(ValueError, match="not in the char vocabulary"):
        prompt_ids(without, "\n")  # a prompt given is never replaced
    with pytest.raises(UserError, match="the prompt is empty"):
        prompt_ids(without, "")


def test_json_is_the_text_the_web_lab_streams(run_dir, capsys, tmp_path):
    """`generate --json` and `POST /api/generate` run one lab (labs/sampling): from the same settings,
    the samples it prints are the pieces the web lab streams; the streamed text, the TOML file's."""
    pytest.importorskip("starlette")
    from serve_helpers import Client

    from attnlab.serve.server import Background
    from attnlab.serve.store import ModelStore

    body = {"run": "r", "text": "First", "max_new_tokens": 12, "temperature": 0.8, "top_k": 5, "top_p": 0.9, "seed": 3}
    with Background(ModelStore(run_dir.parent, minilm=False)) as server:
        status, _, raw = Client(server.url).request("POST", "/api/generate", json.dumps(body).encode(),
                                                    {"Content-Type": "application/json"})
    lines = [json.loads(line) for line in raw.decode().splitlines()]
    assert status == 200 and lines[-1] == {"done": True}
    streamed = "".join(line["text"] for line in lines[:-1])
    flags = ["--prompt", "First", "--max-new-tokens", "12", "--temperature", "0.8", "--top-k", "5", "--top-p", "0.9",
             "--seed", "3"]
    assert cli_main(["generate", "--run", str(run_dir), *flags, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"prompt": "First", "samples": [streamed]}
    config = tmp_path / "generate.toml"
    config.write_text(f'run = "{run_dir}"\nprompt = "First"\nmax_new_tokens = 12\ntop_k = 5\ntop_p = 0.9\nseed = 3\n',
                      encoding="utf-8")
    assert cli_main(["generate", "--config", str(config)]) == 0
    assert capsys.readouterr().out == "First" + streamed + "\n"
