"""attnlab.why.lens: the logit lens on a tiny GPT against the model's own softmax(logits) and
its embedding read through ln_f and lm_head; which models it can read (`is_gpt`)."""

import pytest
import torch

from attnlab.config import GPTConfig, Seq2SeqConfig
from attnlab.model.encoder import BertEncoder, BertEncoderConfig
from attnlab.model.gpt import GPT, is_gpt
from attnlab.model.seq2seq import EncoderDecoder
from attnlab.why.lens import lens_probabilities, logit_lens

from why_helpers import TOK, tiny_gpt  # noqa: E402


@pytest.mark.parametrize("norm", ["pre", "post"])
def test_last_layer_of_the_lens_is_the_models_own_prediction(norm):
    model = tiny_gpt(norm)
    idx = torch.tensor([TOK.encode("abc defg")])
    names, probs, _ = lens_probabilities(model, idx)
    assert names == ["embed", "blocks.0.out", "blocks.1.out", "blocks.2.out"]
    assert model.training
    model.eval()
    with torch.no_grad():
        logits, _ = model(idx)
        embedded = model.token_embedding_table(idx) + model.position_embedding_table(torch.arange(idx.shape[1]))
        first = model.lm_head(model.ln_f(embedded)).softmax(-1)
    torch.testing.assert_close(probs[-1], logits.softmax(-1), atol=1e-6, rtol=0)
    torch.testing.assert_close(probs[0], first, atol=1e-6, rtol=0)
    assert not torch.allclose(probs[1], probs[-1], atol=1e-3)  # the blocks change the guess


def test_logit_lens_table_matches_the_probabilities():
    model = tiny_gpt()
    idx = torch.tensor([TOK.encode("bad cafe")])
    lens = logit_lens(model, idx, TOK)
    _, probs, _ = lens_probabilities(model, idx)
    ids = idx[0].tolist()
    assert lens.tokens == TOK.token_strings(ids) and len(lens.p_next) == 4
    for layer in range(4):
        assert lens.p_next[layer][-1] is None
        for t in range(len(ids) - 1):
            assert lens.p_next[layer][t] == pytest.approx(probs[layer, 0, t, ids[t + 1]].item(), abs=1e-6)
            assert lens.top[layer][t] == TOK.token_strings([int(probs[layer, 0, t].argmax())])[0]
    assert set(lens.to_dict()) >= {"tokens", "layers", "top", "p_next"}
    with pytest.raises(ValueError, match="ln_f and lm_head"):
        logit_lens(BertEncoder(BertEncoderConfig(vocab_size=9, max_seq_len=8, d_model=8, n_heads=2, n_layers=1, d_ff=8)),
                   idx[:, :3], TOK)


def test_is_gpt_names_the_models_that_end_in_ln_f_and_lm_head():
    """`is_gpt` is what the lens, why's ablation, explain's last steps and the web lab ask: a GPT
    with blocks. Its answer agrees with what the model holds."""
    gpts = [tiny_gpt(), tiny_gpt("post"), GPT(GPTConfig(vocab_size=5, max_seq_len=4, d_model=8, n_heads=2,
                                                        n_layers=1, norm="none"))]
    others = [GPT(GPTConfig(vocab_size=5, max_seq_len=4, bigram=True)),
              BertEncoder(BertEncoderConfig(vocab_size=9, max_seq_len=8, d_model=8, n_heads=2, n_layers=1, d_ff=8)),
              EncoderDecoder(Seq2SeqConfig()), torch.nn.Linear(2, 2)]
    for model in gpts:
        assert is_gpt(model) and isinstance(model.lm_head, torch.nn.Linear) and len(model.blocks) > 0
    for model in others:
        assert not is_gpt(model) and not hasattr(model, "lm_head"), type(model).__name__
    with pytest.raises(ValueError, match="ln_f and lm_head"):
        logit_lens(others[0], torch.tensor([[1, 2]]), TOK)
