"""`attnlab shapes` (cli/shapes.py): every size flag reaches the model and the table (seed 001's
defaults and a one-line refusal: tests/look/test_shapes_cli.py; the table itself:
tests/look/test_shapes.py)."""

from __future__ import annotations

from attnlab.cli import main
from attnlab.config import GPTConfig
from attnlab.model.gpt import GPT


def test_each_size_flag_reaches_the_header_and_the_shapes(capsys):
    argv = ["shapes", "--d-model", "32", "--n-heads", "2", "--n-layers", "1", "--d-ff", "48", "--vocab-size", "50",
            "--seq-len", "5", "--batch-size", "2", "--norm", "post"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    config = GPTConfig(vocab_size=50, max_seq_len=5, d_model=32, n_heads=2, n_layers=1, d_ff=48, norm="post")
    assert out.splitlines()[0] == f"B=2 T=5 C=32 H=2 D=16 V=50  ({GPT(config).num_parameters():,} parameters)"
    for shape in ("[2, 5, 32]", "[2, 2, 5, 16]", "[2, 2, 5, 5]", "[2, 5, 48]", "[2, 5, 50]"):
        assert shape in out, shape
    assert "[2, 5, 128]" not in out  # --d-ff, not 4 * d_model


def test_a_batch_of_no_sentences_is_refused_in_one_line(capsys):
    assert main(["shapes", "--batch-size", "0"]) == 2
    assert capsys.readouterr().err == "attnlab: error: --batch-size must be >= 1, got 0\n"
