"""The GPT model: parameter count, causality, loss at init, overfitting, GPT-2 parity."""

import math

import pytest
import torch
from torch.testing import assert_close

from attnlab import GPT, GPTConfig
from attnlab.model.components import make_block
from attnlab.interop.hf import gpt_from_hf, state_dict_to_hf

transformers = pytest.importorskip("transformers")


def tiny(**overrides):
    fields = dict(vocab_size=65, max_seq_len=16, d_model=32, n_heads=4, n_layers=2)
    fields.update(overrides)
    return GPTConfig(**fields)


def test_parameter_count_matches_hand_count():
    V, P, C, L = 65, 8, 64, 4
    model = GPT(GPTConfig.seed(vocab_size=V, max_seq_len=P))
    per_block = (2 * C) + (3 * C * C) + (C * C + C) + (2 * C) + (C * 4 * C + 4 * C) + (4 * C * C + C)
    hand = V * C + P * C + L * per_block + 2 * C + (C * V + V)
    assert model.num_parameters() == hand
    # GPT-2 style: tied lm_head (no extra matrix), biases on q/k/v, no lm_head bias
    gpt2 = GPT(GPTConfig(vocab_size=V, max_seq_len=P, d_model=C, n_heads=4, n_layers=L))
    assert gpt2.num_parameters() == hand - (C * V + V) + L * 3 * C
    assert gpt2.lm_head.weight is gpt2.token_embedding_table.weight


def test_forward_shapes_and_seed_ffn_width():
    model = GPT(GPTConfig.seed(vocab_size=65, max_seq_len=8))
    assert model.blocks[0].ffwd.up.weight.shape == (256, 64)  # seed 001: 64 -> 256 -> 64
    logits, loss = model(torch.zeros(4, 8, dtype=torch.long))
    assert logits.shape == (4, 8, 65) and loss is None


def test_causality():
    torch.manual_seed(0)
    model = GPT(tiny(dropout=0.0)).eval()
    idx = torch.randint(0, 65, (2, 12))
    logits, _ = model(idx)
    for t in (0, 5, 10):
        changed = idx.clone()
        changed[:, t + 1] = (changed[:, t + 1] + 1) % 65
        new_logits, _ = model(changed)
        assert_close(new_logits[:, :t + 1], logits[:, :t + 1])
        assert not torch.allclose(new_logits[:, t + 1], logits[:, t + 1])


def test_initial_loss_is_ln_vocab():
    torch.manual_seed(0)
    model = GPT(tiny(vocab_size=65, d_model=64, n_layers=4))
    idx = torch.randint(0, 65, (8, 16))
    _, loss = model(idx, torch.randint(0, 65, (8, 16)))
    assert abs(loss.item() - math.log(65)) < 0.1


def test_overfits_one_batch():
    torch.manual_seed(0)
    model = GPT(tiny())
    idx = torch.randint(0, 65, (4, 16))
    targets = torch.roll(idx, -1, dims=1)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(150):
        _, loss = model(idx, targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.1


def test_pre_and_post_norm_blocks_follow_the_seed_formulas():
    torch.manual_seed(0)
    x = torch.randn(2, 5, 16)
    pre = make_block(16, 2, norm="pre").eval()
    assert_close(pre(x), (lambda h: h + pre.ffwd(pre.ln2(h)))(x + pre.attn(pre.ln1(x))))
    post = make_block(16, 2, norm="post").eval()
    assert_close(post(x), (lambda h: post.ln2(h + post.ffwd(h)))(post.ln1(x + post.attn(x))))


def test_bad_config_and_input():
    with pytest.raises(ValueError, match=r"d_model \(30\) must be divisible by n_heads \(4\)"):
        tiny(d_model=30)
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        tiny(activation="swish")
    with pytest.raises(ValueError, match="unknown norm 'middle'"):
        tiny(norm="middle")
    with pytest.raises(ValueError, match="unknown model config key"):
        GPTConfig.from_dict({"d_model": 32, "n_embd": 32})
    with pytest.raises(ValueError, match=r"17 tokens is longer than max_seq_len \(16\)"):
        GPT(tiny())(torch.zeros(1, 17, dtype=torch.long))


@pytest.mark.parametrize("n_embd,n_head,n_layer,vocab,act,tied", [
    (48, 3, 3, 37, "gelu_new", True),   # 3 heads of 16, 3 layers, 37 tokens
    (32, 4, 2, 101, "gelu", False),
    (20, 5, 1, 50, "relu", True),
])
def test_equals_hugging_face_gpt2(n_embd, n_head, n_layer, vocab, act, tied):
    torch.manual_seed(n_embd)
    hf_config = transformers.GPT2Config(
        vocab_size=vocab, n_positions=24, n_embd=n_embd, n_layer=n_layer, n_head=n_head,
        activation_function=act, tie_word_embeddings=tied, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
        bos_token_id=0, eos_token_id=0)
    hf = transformers.GPT2LMHeadModel(hf_config).eval()
    with torch.no_grad():  # random non-trivial LayerNorms and biases, so every tensor matters
        for name, p in hf.named_parameters():
            if "ln" in name or name.endswith("bias"):
                p.add_(0.1 * torch.randn_like(p))
    model = gpt_from_hf(hf)
    idx = torch.randint(0, vocab, (3, 24))
    with torch.no_grad():
        ref = hf(idx, labels=idx)
        # HF shifts the labels inside; ours takes explicit next-token targets (-1 = ignore)
        targets = torch.cat([idx[:, 1:], torch.full((3, 1), -1)], dim=1)
        logits, loss = model(idx, targets)
    assert (logits - ref.logits).abs().max().item() <= 1e-5
    assert_close(loss, ref.loss)
    # and back: our state dict in GPT-2 names loads into a fresh HF model unchanged
    back = transformers.GPT2LMHeadModel(hf_config).eval()
    result = back.load_state_dict(state_dict_to_hf(model), strict=False)
    assert not result.unexpected_keys and set(result.missing_keys) <= ({"lm_head.weight"} if tied else set())
    with torch.no_grad():
        assert_close(back(idx).logits, ref.logits)


def test_loads_a_save_pretrained_folder(tmp_path):
    torch.manual_seed(5)
    hf_config = transformers.GPT2Config(vocab_size=40, n_positions=12, n_embd=24, n_layer=2, n_head=2,
                                        bos_token_id=0, eos_token_id=0)
    hf = transformers.GPT2LMHeadModel(hf_config).eval()
    hf.save_pretrained(tmp_path / "tiny-gpt2")
    model = gpt_from_hf(tmp_path / "tiny-gpt2")
    idx = torch.randint(0, 40, (2, 12))
    with torch.no_grad():
        assert (model(idx)[0] - hf(idx).logits).abs().max().item() <= 1e-5
    with pytest.raises(FileNotFoundError, match="no config.json"):
        gpt_from_hf(tmp_path)
