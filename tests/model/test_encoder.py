"""Our BertEncoder equals transformers' BertModel layer by layer, on a tiny random BERT (MiniLM's
real weights: tests/interop/test_minilm.py); mean pooling leaves padding out."""

import pytest
import torch

from attnlab.interop.bert import load_hf_bert
from attnlab.model.encoder import mean_pool

from bert_helpers import assert_layers_equal  # noqa: E402

transformers = pytest.importorskip("transformers")


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


def test_mean_pool_ignores_padding():
    hidden = torch.tensor([[[1.0, 0.0], [3.0, 0.0], [100.0, 100.0]]])
    pad = torch.tensor([[False, False, True]])
    torch.testing.assert_close(mean_pool(hidden, pad), torch.tensor([[1.0, 0.0]]))
