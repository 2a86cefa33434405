"""attnlab.interop.hf_tokenizer: the tokenizer files of a model folder, read back by the
`tokenizers` library itself and by `load_hf_tokenizer`, which picks the most specific tokenizer."""

import json

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers

from attnlab.interop.hf_tokenizer import (TOKENIZER_CONFIG, TOKENIZER_JSON, char_tokenizer_json, load_hf_tokenizer,
                                          save_hf_tokenizer, special_token_ids)
from attnlab.tokenizers import BPETokenizer, CharTokenizer, HFTokenizer

TEXT = "First 세계  안녕!\n\nspeak,  speak.\t🙂\n"


def test_the_char_vocabulary_as_a_tokenizers_file_encodes_and_decodes_exactly():
    tok = CharTokenizer.train(TEXT)
    hf = char_tokenizer_json(tok)
    assert hf.encode(TEXT).ids == tok.encode(TEXT)  # newlines, tabs and runs of spaces included
    assert hf.decode(tok.encode(TEXT)) == TEXT
    assert hf.get_vocab() == tok.stoi


def test_a_saved_char_tokenizer_loads_as_char_with_its_config(tmp_path):
    tok = CharTokenizer.train(TEXT)
    save_hf_tokenizer(tok, tmp_path, model_max_length=48)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([TOKENIZER_CONFIG, TOKENIZER_JSON])
    config = json.loads((tmp_path / TOKENIZER_CONFIG).read_text())
    assert config == {"model_max_length": 48, "clean_up_tokenization_spaces": False,
                      "tokenizer_class": "PreTrainedTokenizerFast"}
    assert Tokenizer.from_file(str(tmp_path / TOKENIZER_JSON)).encode(TEXT).ids == tok.encode(TEXT)
    loaded = load_hf_tokenizer(tmp_path)
    assert isinstance(loaded, CharTokenizer) and loaded.itos == tok.itos


def test_a_saved_bpe_loads_as_bpe_and_any_other_tokenizer_as_hf(tmp_path):
    bpe = BPETokenizer.train(TEXT * 20, 270)
    (tmp_path / "bpe").mkdir()
    save_hf_tokenizer(bpe, tmp_path / "bpe", model_max_length=16)
    loaded = load_hf_tokenizer(tmp_path / "bpe")
    assert isinstance(loaded, BPETokenizer) and loaded.encode(TEXT) == bpe.encode(TEXT)
    words = Tokenizer(models.WordLevel({"[UNK]": 0, "hello": 1, "world": 2}, unk_token="[UNK]"))
    words.pre_tokenizer = pre_tokenizers.Whitespace()
    (tmp_path / "words").mkdir()
    words.save(str(tmp_path / "words" / TOKENIZER_JSON))
    other = load_hf_tokenizer(tmp_path / "words")
    assert isinstance(other, HFTokenizer) and other.encode("hello world") == [1, 2]


def test_only_gpt2_has_special_tokens():
    assert special_token_ids(CharTokenizer.train("ab")) == {"bos_token_id": None, "eos_token_id": None}

    class Named:
        name = "gpt2"

    assert special_token_ids(Named()) == {"bos_token_id": 50256, "eos_token_id": 50256}


def test_a_folder_without_a_tokenizer_or_with_a_broken_one_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="has no tokenizer: expected tokenizer.json or vocab.json"):
        load_hf_tokenizer(tmp_path)
    (tmp_path / TOKENIZER_JSON).write_text('{"version": "1.0", "model": {"type": "Nope"}}')
    with pytest.raises(ValueError, match="is not a valid tokenizers file"):
        load_hf_tokenizer(tmp_path)
