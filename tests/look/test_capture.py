import pytest
import torch
import torch.nn as nn

import attnlab
from attnlab.config import GPTConfig
from attnlab.model.attention import MultiHeadAttention, attention
from attnlab.model.gpt import GPT
from attnlab.model.points import named_points
from attnlab.look.capture import AttentionMaps, capture_attention, maps_from_hf


def tiny_gpt(dropout: float = 0.0) -> GPT:
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=17, max_seq_len=16, d_model=24, n_heads=3, n_layers=3, dropout=dropout))


def test_names_shapes_rows_sum_to_one():
    model = tiny_gpt().eval()
    idx = torch.randint(0, 17, (2, 7))
    with capture_attention(model) as maps:
        model(idx)
    assert list(maps) == ["blocks.0.attn", "blocks.1.attn", "blocks.2.attn"]
    for w in maps.values():
        assert w.shape == (2, 3, 7, 7)  # (B, H, T, S)
        torch.testing.assert_close(w.sum(-1), torch.ones(2, 3, 7))
        assert torch.all(w.triu(diagonal=1) == 0)  # causal: nothing from the future
    assert maps.layer(-1) is maps["blocks.2.attn"]


def test_output_identical_with_and_without_capture_and_equal_to_fast_path():
    model = tiny_gpt().eval()
    idx = torch.randint(0, 17, (2, 9))
    fast, _ = model(idx)
    with capture_attention(model):
        captured, _ = model(idx)
    after, _ = model(idx)
    torch.testing.assert_close(captured, fast, atol=1e-6, rtol=1e-5)
    assert torch.equal(after, fast)  # the fast path is untouched once the context closes
    for block in model.blocks:
        block.attn.use_sdpa = False
    explicit, _ = model(idx)
    assert torch.equal(captured, explicit)  # capture adds nothing to the explicit path's arithmetic


def test_weights_are_the_attention_formula_for_block_zero():
    model = tiny_gpt().eval()
    idx = torch.randint(0, 17, (1, 5))
    with capture_attention(model) as maps:
        model(idx)
    x = model.token_embedding_table(idx) + model.position_embedding_table(torch.arange(5))
    q, k, v = model.blocks[0].attn.project_qkv(model.blocks[0].ln1(x))
    _, expected = attention(q, k, v, mask=attnlab.causal_mask(5))
    torch.testing.assert_close(maps["blocks.0.attn"], expected.detach())


def test_eval_mode_during_capture_and_modes_restored():
    model = tiny_gpt(dropout=0.5).train()
    idx = torch.randint(0, 17, (1, 6))
    seen = []
    with capture_attention(model) as maps:
        seen.append(model.training)
        a, _ = model(idx)
        b, _ = model(idx)
    assert seen == [False]
    torch.testing.assert_close(a, b)  # no dropout inside
    assert all(m.training for m in model.modules())
    torch.testing.assert_close(maps["blocks.0.attn"].sum(-1), torch.ones(1, 3, 6))


def test_hooks_removed_on_exit_even_after_an_exception():
    model = tiny_gpt()
    with pytest.raises(RuntimeError):
        with capture_attention(model):
            raise RuntimeError("boom")
    assert not any(p.active for p in named_points(model).values())
    assert model.training
    with capture_attention(model):
        pass
    assert not any(p.active for p in named_points(model).values())


def test_several_forwards_keep_the_last_and_a_history():
    model = tiny_gpt().eval()
    with capture_attention(model) as maps:
        model(torch.randint(0, 17, (1, 4)))
        model(torch.randint(0, 17, (1, 6)))
    assert maps["blocks.0.attn"].shape == (1, 3, 6, 6)
    assert [w.shape[-1] for w in maps.history["blocks.0.attn"]] == [4, 6]


def test_kv_cache_generation_captures_each_step():
    model = tiny_gpt().eval()
    caches = model.make_kv_caches(1)
    with capture_attention(model) as maps:
        model(torch.tensor([[1, 2, 3]]), kv_caches=caches)
        model(torch.tensor([[4]]), kv_caches=caches)
    assert maps["blocks.1.attn"].shape == (1, 3, 1, 4)  # one new query over four keys


def test_nested_module_paths_give_dotted_names():
    class EncDec(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Module()
            self.encoder.blocks = nn.ModuleList([nn.Module()])
            self.encoder.blocks[0].attn = MultiHeadAttention(8, 2)
            self.decoder = nn.Module()
            self.decoder.blocks = nn.ModuleList([nn.Module()])
            self.decoder.blocks[0].self_attn = MultiHeadAttention(8, 2, causal=True)
            self.decoder.blocks[0].cross_attn = MultiHeadAttention(8, 2)

        def forward(self, src, tgt):
            memory = self.encoder.blocks[0].attn(src)
            y = self.decoder.blocks[0].self_attn(tgt)
            return self.decoder.blocks[0].cross_attn(y, memory=memory)

    model = EncDec()
    with capture_attention(model) as maps:
        model(torch.randn(1, 5, 8), torch.randn(1, 3, 8))
    assert {k: tuple(v.shape) for k, v in maps.items()} == {
        "encoder.blocks.0.attn": (1, 2, 5, 5),
        "decoder.blocks.0.self_attn": (1, 2, 3, 3),
        "decoder.blocks.0.cross_attn": (1, 2, 3, 5),
    }


def test_nested_captures_both_receive_the_weights():
    model = tiny_gpt().eval()
    with capture_attention(model) as outer:
        with capture_attention(model) as inner:
            model(torch.randint(0, 17, (1, 4)))
        model(torch.randint(0, 17, (1, 5)))
    assert inner["blocks.0.attn"].shape[-1] == 4
    assert [w.shape[-1] for w in outer.history["blocks.0.attn"]] == [4, 5]
    assert not any(p.active for p in named_points(model).values())


def test_no_attention_is_an_error():
    with pytest.raises(ValueError, match="no MultiHeadAttention"):
        with capture_attention(nn.Linear(2, 2)):
            pass


def test_hugging_face_attentions_become_the_same_maps():
    transformers = pytest.importorskip("transformers")
    config = transformers.BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=32, max_position_embeddings=32)
    torch.manual_seed(0)
    config._attn_implementation = "eager"  # the fused implementations return no weights
    model = transformers.BertModel(config, add_pooling_layer=False).eval()
    with torch.no_grad():
        out = model(torch.tensor([[2, 7, 9, 3]]), output_attentions=True)
    maps = maps_from_hf(out)
    assert isinstance(maps, AttentionMaps)
    assert list(maps) == ["blocks.0.attn", "blocks.1.attn"]
    assert maps["blocks.1.attn"].shape == (1, 2, 4, 4)
    torch.testing.assert_close(maps["blocks.0.attn"].sum(-1), torch.ones(1, 2, 4))
    assert list(maps_from_hf(attentions=out.attentions)) == list(maps)
    with pytest.raises(ValueError, match="eager"):
        maps_from_hf(attentions=(None, None))


def test_public_name():
    assert attnlab.capture_attention is capture_attention
