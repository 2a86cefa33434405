"""`attnlab heads` (cli/heads.py): which head looks from one word to another, on a BPE run (whose
tokens carry a visible space) and on MiniLM's real weights."""

import pytest
import torch

from cli_helpers import assert_user_error, needs_minilm, run_cli, ANIMAL
from attnlab.config import GPTConfig
from attnlab.model.gpt import GPT


def test_heads_matches_later_words_of_a_bpe_run(capsys, monkeypatch, tmp_path):
    """A byte-level BPE labels ' animal' as '␣animal'; --to animal must still find it."""
    from attnlab.tokenizers import build_tokenizer

    tokenizer = build_tokenizer("bpe", text=ANIMAL * 40 + " animal street it" * 100, vocab_size=290)
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, max_seq_len=32, d_model=16, n_heads=2, n_layers=2))
    monkeypatch.setattr("attnlab.sources.load_run", lambda run_dir: (model.eval(), tokenizer))
    (tmp_path / "run").mkdir()
    tokens = tokenizer.token_strings(tokenizer.encode(ANIMAL))
    assert "␣animal" in tokens and "␣it" in tokens
    rc, out, err = run_cli(capsys, "heads", ANIMAL, "--run", tmp_path / "run", "--from", "it", "--to", "animal",
                           "--vs", "street")
    assert rc == 0, err
    assert f"from '␣it' (token {tokens.index('␣it')}) to '␣animal' (token {tokens.index('␣animal')})" in out


@needs_minilm
def test_heads_finds_the_animal_head(capsys, minilm):
    rc, out, _ = run_cli(capsys, "heads", ANIMAL, "--model", "minilm", "--from", "it", "--to", "animal",
                         "--vs", "street", "--top", "0")
    assert rc == 0
    rows = [line.split() for line in out.splitlines()[2:]]
    assert len(rows) == 6 * 12
    best = {(int(r[1]), int(r[2])): (float(r[3]), float(r[4])) for r in rows}
    to_animal, to_street = best[(3, 1)]  # the seeds' question, answered on real weights
    assert to_animal == pytest.approx(0.68, abs=0.01) and to_street == pytest.approx(0.05, abs=0.01)
    assert rows[0][1:3] == ["3", "1"]
    err = assert_user_error(capsys, "heads", ANIMAL, "--model", "minilm", "--from", "she", "--to", "animal",
                            match="--from 'she' is not a token")
    assert "'animal'" in err and "'tired'" in err  # the tokens it has


def test_a_best_head_under_the_threshold_is_reported_as_none_found():
    """`heads --detect` names the best head by each score and whether it clears the threshold the
    induction lab uses: a model with no induction head still has a best one, which is not one."""
    from attnlab.cli.heads import best_line
    from attnlab.labs.induction.config import THRESHOLD, LabConfig

    assert LabConfig().threshold == THRESHOLD == 0.4  # one threshold, stated alike
    assert best_line("induction", 3, 3, 0.015, THRESHOLD) == (
        "best induction head: layer 3 head 3 (0.015), under the 0.4 threshold: no induction head found")
    assert best_line("previous", 0, 1, 0.93, THRESHOLD) == (
        "best previous head: layer 0 head 1 (0.930), above the 0.4 threshold")
