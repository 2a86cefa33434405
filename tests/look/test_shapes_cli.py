"""`attnlab shapes`: the table printed, and bad sizes refused in one line (the table itself:
test_shapes.py)."""

from attnlab.cli import main


def test_cli_prints_seed_001_shapes(capsys):
    assert main(["shapes"]) == 0
    out = capsys.readouterr().out
    assert "[1, 4, 3, 16]" in out  # four heads of 16 over 3 tokens
    assert "[1, 3, 256]" in out  # feed-forward widens 64 -> 256
    assert "[1, 3, 50257]" in out  # GPT-2 vocabulary


def test_cli_bad_input_is_one_line(capsys):
    assert main(["shapes", "--d-model", "10", "--n-heads", "3"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "attnlab: error: d_model (10) must be divisible by n_heads (3)"
    assert main(["shapes", "--seq-len", "0"]) == 2
    assert "--seq-len must be >= 1" in capsys.readouterr().err
