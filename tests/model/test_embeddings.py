"""A GPT's position encoding is a part it is handed: the learned table (GPT-2's) or seed 002's fixed
sin/cos waves, checked against the formula computed by hand at chosen positions."""

import math

import pytest
import torch
import torch.nn as nn
from torch.testing import assert_close

from seq2seq_helpers import SeedPositionalEncoding

import attnlab.fast
from attnlab import GPT, GPTConfig
from attnlab.model.embeddings import SinusoidalPositionTable, SinusoidalPositionalEncoding, sinusoidal_table


def test_the_fixed_table_holds_seed_002s_waves():
    table = SinusoidalPositionTable(max_len=10, d_model=6)
    rows = table(torch.tensor([0, 1, 7]))  # (3, C)
    for row, pos in zip(rows, (0, 1, 7)):
        by_hand = []
        for i in range(3):  # PE[pos, 2i] = sin(pos / 10000^(2i/C)), PE[pos, 2i+1] = cos(...)
            angle = pos / 10000 ** (2 * i / 6)
            by_hand += [math.sin(angle), math.cos(angle)]
        assert_close(row, torch.tensor(by_hand), atol=1e-6, rtol=1e-6)
    assert list(table.parameters()) == [] and table.state_dict() == {}  # fixed: nothing to train or save


def test_a_sinusoidal_gpt_adds_the_waves_to_its_token_embeddings():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=13, max_seq_len=8, d_model=16, n_heads=2, n_layers=2, position="sinusoidal"))
    idx = torch.randint(0, 13, (2, 5))
    with attnlab.record(model, "embed") as rec:
        model(idx)
    expected = model.token_embedding_table(idx) + SinusoidalPositionTable(8, 16).weight[:5]
    assert_close(rec["embed"], expected)
    learned = GPT(GPTConfig(vocab_size=13, max_seq_len=8, d_model=16, n_heads=2, n_layers=2))
    assert isinstance(learned.position_embedding_table, nn.Embedding)
    # the fixed table is not a parameter: 8 x 16 fewer than the learned model's
    assert learned.num_parameters() - model.num_parameters() == 8 * 16
    assert learned.num_parameters(non_embedding=True) == model.num_parameters(non_embedding=True)


def test_fast_decoding_of_a_sinusoidal_gpt_gives_the_reference_tokens():
    torch.manual_seed(1)
    model = GPT(GPTConfig(vocab_size=13, max_seq_len=8, d_model=16, n_heads=2, n_layers=2,
                          position="sinusoidal")).eval()
    prompt = torch.randint(0, 13, (2, 2))
    assert torch.equal(attnlab.fast.generate(model, prompt, 10, temperature=0.0),
                       model.generate(prompt, 10, temperature=0.0))


def test_an_unknown_position_encoding_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown position 'rotary'; choose one of learned, sinusoidal"):
        GPTConfig(position="rotary")


def test_the_train_flag_chooses_it_and_gpt2_export_refuses_it_by_name(tmp_path):
    pytest.importorskip("transformers")
    from attnlab.cli import build_parser
    from attnlab.cli.train import resolve_config
    from attnlab.interop.hf import config_to_hf

    args = build_parser().parse_args(["train", "--out-dir", str(tmp_path), "--position", "sinusoidal"])
    config = resolve_config(args)[0].model_config(vocab_size=5)
    assert config.position == "sinusoidal"
    with pytest.raises(ValueError, match="position='sinusoidal' \\(GPT-2 learns its position table\\)"):
        config_to_hf(config)


def test_positional_encoding_known_values():
    pe = sinusoidal_table(50, 8)
    torch.testing.assert_close(pe[0], torch.tensor([0.0, 1.0] * 4))
    assert pe[1, 0].item() == pytest.approx(math.sin(1.0))
    assert pe[1, 1].item() == pytest.approx(math.cos(1.0))
    assert pe[7, 6].item() == pytest.approx(math.sin(7 / 10000 ** (6 / 8)))
    x = torch.randn(2, 6, 8)
    torch.testing.assert_close(SinusoidalPositionalEncoding(8)(x), SeedPositionalEncoding(8)(x))
    with pytest.raises(ValueError, match="even"):
        sinusoidal_table(10, 7)
    with pytest.raises(ValueError, match="max_len"):
        SinusoidalPositionalEncoding(8, max_len=4)(x)
