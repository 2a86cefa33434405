"""cli/_source_args.py: --run or --model (one, required), a word found among BPE, WordPiece and
SentencePiece tokens as a person types it, --json's strict numbers, and an output file checked
before any work."""

from __future__ import annotations

import argparse
import json
import os

import pytest

from attnlab.cli import Parser
from attnlab.cli._source_args import (add_pair_flags, add_source_flags, check_writable, find_pair, find_token,
                                      norm_token, print_json)
from attnlab.errors import UserError


def test_one_source_is_required_and_two_are_refused(capsys):
    p = Parser(prog="attnlab look")
    add_source_flags(p)
    assert vars(p.parse_args(["--run", "runs/r"])) == {"run": "runs/r", "model": None}
    for argv in ([], ["--run", "r", "--model", "minilm"], ["--model", "gpt5"]):
        with pytest.raises(SystemExit):
            p.parse_args(argv)
        assert capsys.readouterr().err.startswith("attnlab: error: look: ")


@pytest.mark.parametrize("token, typed", [("Ġit", "it"), ("##ing", "ing"), ("▁The", "the"), ("␣animal", "animal"),
                                          ("  Street ", "street"), ("[CLS]", "[cls]")])
def test_a_token_reads_as_it_is_typed(token, typed):
    assert norm_token(token) == typed


def test_find_pair_takes_the_first_token_that_reads_each_word():
    tokens = ["[CLS]", "the", "animal", "didn", "'", "t", "cross", "the", "street", "because", "it", "[SEP]"]
    p = argparse.ArgumentParser()
    add_pair_flags(p)
    assert find_pair(tokens, p.parse_args(["--from", "It", "--to", "ANIMAL", "--vs", "street"])) == (10, 2, 8)
    assert find_pair(tokens, p.parse_args(["--from", "the", "--to", "the"])) == (1, 1, None)


def test_a_word_that_is_no_token_lists_the_tokens_there_are():
    with pytest.raises(UserError, match=r"^--to 'zebra' is not a token of the text; its tokens are: 'a' '␣b'$"):
        find_token(["a", "␣b"], "zebra", "--to")
    with pytest.raises(UserError, match=r"--from '' is not a token"):
        find_token(["", "a"], "", "--from")  # an empty word matches nothing, not an empty token
    many = [f"t{i}" for i in range(100)]
    with pytest.raises(UserError, match=r"'t59' \.\.\.$"):
        find_token(many, "x", "--vs")  # the first 60 of them


def test_json_is_strict_and_a_nan_is_warned_about_once(capsys):
    print_json({"p": [0.5, float("nan"), float("inf")], "ok": 1}, "the lens")
    out, err = capsys.readouterr()
    assert json.loads(out) == {"p": [0.5, None, None], "ok": 1}
    assert err.startswith("attnlab: warning: 2 numbers in the lens are NaN or infinite") and err.count("\n") == 1
    print_json({"p": 0.5}, "the lens")
    assert capsys.readouterr() == ('{"p": 0.5}\n', "")


def test_an_output_file_is_checked_before_any_work(tmp_path):
    check_writable(None)
    check_writable(str(tmp_path / "new.png"))
    (tmp_path / "old.png").write_bytes(b"x")
    check_writable(str(tmp_path / "old.png"))  # an existing file may be replaced
    with pytest.raises(UserError, match="it is a directory"):
        check_writable(str(tmp_path))
    with pytest.raises(UserError, match=r"folder .*missing does not exist"):
        check_writable(str(tmp_path / "missing" / "a.png"))
    if os.geteuid() != 0:  # root may write anywhere
        (tmp_path / "old.png").chmod(0o444)
        with pytest.raises(UserError, match="permission denied"):
            check_writable(str(tmp_path / "old.png"))


def test_a_file_in_the_current_folder_is_checked_there(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    check_writable("here.html")  # its folder is '.', which exists
