"""Logit lens, head ablation and `why` on tiny models, against references written here: the
model's own softmax(logits), a forward without attention output, W_O columns set to zero,
capture_attention's maps and explain_model's values."""

import copy

import pytest
import torch
import torch.nn.functional as F

from attnlab.config import GPTConfig, Seq2SeqConfig
from attnlab.model.encoder import BertEncoder, BertEncoderConfig
from attnlab.model.gpt import GPT, is_gpt
from attnlab.model.seq2seq import EncoderDecoder
from attnlab.tokenizers.char import CharTokenizer
from attnlab.look.capture import capture_attention
from attnlab.model.attention import attention, causal_mask
from attnlab.why.ablate import ablate_heads, ablated_forward, ablated_loss
from attnlab.why.lens import lens_probabilities, logit_lens
from attnlab.look.norms import shares
from attnlab.why.rollout import attention_rollout
from attnlab.why.answers import why

TOK = CharTokenizer.train("abcdefgh ")


def tiny_gpt(norm: str = "pre", seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    model = GPT(GPTConfig(vocab_size=TOK.vocab_size, max_seq_len=16, d_model=16, n_heads=2, n_layers=3,
                          norm=norm, dropout=0.1))
    for p in model.parameters():  # larger than GPT-2's init, so that every head matters
        p.data.normal_(0, 0.3)
    return model.train()  # the tools must switch to eval (no dropout) and back


def batch(seed: int = 1, B: int = 3, T: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, TOK.vocab_size, (B, T + 1), generator=g)
    return ids[:, :-1], ids[:, 1:]


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


@pytest.mark.parametrize("mode", ["zero", "mean"])
def test_ablating_no_head_gives_the_baseline_loss_exactly(mode):
    model = tiny_gpt()
    x, y = batch()
    model.eval()
    with torch.no_grad():
        _, baseline = model(x, y)
    assert ablated_loss(model, x, y, [], mode) == baseline.item()
    assert ablate_heads(model, x, y)["baseline_loss"] == baseline.item()


def forward_without_attention_output(model: GPT, idx: torch.Tensor) -> torch.Tensor:
    """The GPT written out again with every head's output zero: attention adds only W_O's bias."""
    x = model.token_embedding_table(idx) + model.position_embedding_table(torch.arange(idx.shape[1]))
    for block in model.blocks:
        if block.pre_norm:
            x = x + block.attn.proj.bias
            x = x + block.ffwd(block.ln2(x))
        else:
            x = block.ln1(x + block.attn.proj.bias)
            x = block.ln2(x + block.ffwd(x))
    return model.lm_head(model.ln_f(x))


@pytest.mark.parametrize("norm", ["pre", "post"])
def test_ablating_every_head_equals_a_forward_without_attention(norm):
    model = tiny_gpt(norm)
    x, y = batch()
    every = [(l, h) for l in range(3) for h in range(2)]
    logits, loss = ablated_forward(model, x, y, every)
    model.eval()
    with torch.no_grad():
        expected = forward_without_attention_output(model, x)
    torch.testing.assert_close(logits, expected, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(loss, F.cross_entropy(expected.flatten(0, 1), y.flatten()), atol=1e-6, rtol=1e-6)


def test_zeroing_a_head_equals_zeroing_its_wo_columns_and_mean_of_one_position_is_a_no_op():
    model = tiny_gpt()
    x, y = batch()
    result = ablate_heads(model, x, y, together=[(0, 1), (2, 0)])
    assert [(r["layer"], r["head"]) for r in result["heads"]] == [(l, h) for l in range(3) for h in range(2)]
    for row in result["heads"]:
        reference = copy.deepcopy(model).eval()
        with torch.no_grad():
            reference.blocks[row["layer"]].attn.proj.weight[:, row["head"] * 8:(row["head"] + 1) * 8] = 0
            _, loss = reference(x, y)
        assert row["zero"] == pytest.approx(loss.item() - result["baseline_loss"], abs=1e-5)
    assert any(abs(r["zero"]) > 1e-3 for r in result["heads"]) and any(abs(r["mean"]) > 1e-3 for r in result["heads"])
    assert result["set"]["heads"] == [[0, 1], [2, 0]]
    assert result["set"]["loss"] == pytest.approx(ablated_loss(model, x, y, [(2, 0), (0, 1)]), abs=1e-7)
    one_x, one_y = x[:1, :1], y[:1, :1]  # one position: its mean is itself
    assert ablated_loss(model, one_x, one_y, [(1, 1)], "mean") == pytest.approx(
        ablated_loss(model, one_x, one_y, []), abs=1e-6)
    with pytest.raises(ValueError, match="does not exist"):
        ablated_loss(model, x, y, [(3, 0)])


@torch.no_grad()
def head_by_hand(model: GPT, idx: torch.Tensor, layer: int, head: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One head's weights (T, T) and values (T, D), the blocks called one by one (pre-LN)."""
    x = model.token_embedding_table(idx) + model.position_embedding_table(torch.arange(idx.shape[1]))
    for block in model.blocks[:layer]:
        x = block(x)
    attn = model.blocks[layer].attn
    q, k, v = attn.project_qkv(model.blocks[layer].ln1(x))  # (1, H, T, D) each
    _, weights = attention(q, k, v, mask=causal_mask(idx.shape[1]))
    return weights[0, head], v[0, head]


def test_why_on_a_gpt_agrees_with_independent_paths():
    model = tiny_gpt()
    idx = torch.tensor([TOK.encode("abc dabc he")])
    i, j, k = 8, 1, 5
    answer = why(model, idx, i, j, vs=k)
    assert model.training
    model.eval()
    with torch.no_grad(), capture_attention(model) as maps:
        logits, _ = model(idx)
    stack = torch.stack([m[0] for m in maps.values()])  # (L, H, T, T)
    layer, head = divmod(int(stack[:, :, i, j].argmax()), 2)
    assert (answer["raw"]["layer"], answer["raw"]["head"]) == (layer, head)
    assert answer["raw"]["vs"] == pytest.approx(stack[layer, head, i, k].item(), abs=1e-6)
    rollout = attention_rollout(list(stack))
    assert answer["rollout"]["to"] == pytest.approx(rollout[i, j].item(), abs=1e-9)
    assert 0 < answer["flow"]["to"] <= 1 + 1e-9
    nl, nh = answer["norm"]["layer"], answer["norm"]["head"]
    weights, v = head_by_hand(model, idx, nl, nh)
    w_o = model.blocks[nl].attn.proj.weight[:, nh * 8:(nh + 1) * 8]
    contribution = weights[i] * (v @ w_o.T).norm(dim=-1)  # (T,)
    assert answer["norm"]["to"] == pytest.approx((contribution / contribution.sum())[j].item(), abs=1e-5)
    reference = copy.deepcopy(model)
    with torch.no_grad():
        reference.blocks[layer].attn.proj.weight[:, head * 8:(head + 1) * 8] = 0
        after, _ = reference(idx)
    loss = lambda lg: F.cross_entropy(lg[0, i], idx[0, i + 1]).item()  # noqa: E731
    assert answer["ablation"]["loss"] == pytest.approx(loss(logits), abs=1e-5)
    assert answer["ablation"]["dloss"] == pytest.approx(loss(after) - loss(logits), abs=1e-5)
    with pytest.raises(ValueError, match="comes after"):
        why(model, idx, 2, 5)


def test_why_on_an_encoder_has_no_ablation_and_every_share_is_a_fraction():
    torch.manual_seed(3)
    model = BertEncoder(BertEncoderConfig(vocab_size=20, max_seq_len=16, d_model=12, n_heads=3, n_layers=2, d_ff=24)).eval()
    idx = torch.randint(0, 20, (1, 7))
    answer = why(model, idx, 2, 5, vs=6)  # an encoder looks both ways
    assert "ablation" not in answer
    assert 0 <= answer["norm"]["to"] <= 1 and answer["norm"]["vs"] is not None
    assert answer["vs"] == 6 and answer["tokens"] is None
    s = shares(torch.rand(3, 7, 7))
    torch.testing.assert_close(s.sum(-1), torch.ones(3, 7))


def test_why_on_a_model_without_residuals_rolls_out_the_head_means():
    """A ladder rung with residual=False: the rollout adds no identity (the mean maps' product)."""
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=TOK.vocab_size, max_seq_len=16, d_model=16, n_heads=2, n_layers=2,
                          residual=False)).eval()
    idx = torch.tensor([TOK.encode("abcdefg")])
    answer = why(model, idx, 6, 2)
    with torch.no_grad(), capture_attention(model) as maps:
        model(idx)
    means = [m[0].double().mean(dim=0) for m in maps.values()]  # (T, T) per layer
    assert answer["rollout"]["to"] == pytest.approx((means[1] @ means[0])[6, 2].item(), abs=1e-6)


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
