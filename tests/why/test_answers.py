"""attnlab.why.answers: `why` on tiny models against independent paths: capture_attention's maps,
the rollout of those maps, one head's weights and values by hand, and W_O's columns set to zero."""

import copy

import pytest
import torch
import torch.nn.functional as F

from attnlab.config import GPTConfig
from attnlab.model.encoder import BertEncoder, BertEncoderConfig
from attnlab.model.gpt import GPT
from attnlab.look.capture import capture_attention
from attnlab.model.attention import attention, causal_mask
from attnlab.look.norms import shares
from attnlab.why.rollout import attention_rollout
from attnlab.why.answers import why

from why_helpers import TOK, tiny_gpt  # noqa: E402


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
