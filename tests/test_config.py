"""attnlab.config: the presets, TrainConfig's model fields (GPTConfig's), the value checks every
config shares (types, positive sizes, choices), and TOML files."""

from __future__ import annotations

import dataclasses

import pytest

from attnlab.config import (MODEL_FIELDS, PRESETS, GPTConfig, Seq2SeqConfig, TrainConfig, check_types, load_toml,
                            preset_config)


def test_presets_are_the_documented_recipes():
    cpu = preset_config("cpu")
    assert (cpu.n_layers, cpu.n_heads, cpu.d_model, cpu.block_size, cpu.batch_size) == (4, 4, 128, 64, 12)
    assert (cpu.learning_rate, cpu.min_lr, cpu.warmup_iters, cpu.max_iters) == (1e-3, 1e-4, 100, 2000)
    assert (cpu.beta2, cpu.weight_decay, cpu.grad_clip, cpu.dropout) == (0.99, 0.1, 1.0, 0.0)
    big = preset_config("shakespeare")
    assert (big.n_layers, big.n_heads, big.d_model, big.block_size, big.batch_size) == (6, 6, 384, 256, 64)
    assert (big.dropout, big.max_iters) == (0.2, 5000)
    seed = preset_config("seed").model_config(vocab_size=65)
    assert (seed.d_model, seed.n_heads, seed.n_layers, seed.activation) == (64, 4, 4, "relu")
    assert not seed.qkv_bias and not seed.tie_weights and seed.lm_head_bias
    assert set(PRESETS) == {"cpu", "shakespeare", "seed"}


def test_model_config_maps_block_size_to_max_seq_len():
    model = TrainConfig(block_size=32, d_ff=100).model_config(vocab_size=7)
    assert (model.max_seq_len, model.vocab_size, model.d_ff) == (32, 7, 100)


def test_the_model_fields_are_gpt_configs():
    """TrainConfig's model fields are GPTConfig's, in its order, with its types, help and
    defaults; only the context length is renamed (block_size) and shorter by default (the cpu
    preset's), the activation is nanoGPT's exact GELU (GPTConfig's is GPT-2's tanh form), and
    vocab_size is left to the tokenizer (TrainConfig.vocab_size is bpe's)."""
    gpt = [f for f in dataclasses.fields(GPTConfig) if f.name != "vocab_size"]
    train = {f.name: f for f in dataclasses.fields(TrainConfig)}
    assert MODEL_FIELDS == tuple("block_size" if f.name == "max_seq_len" else f.name for f in gpt)
    for f, name in zip(gpt, MODEL_FIELDS):
        ours = train[name]
        assert (ours.type, ours.metadata["help"]) == (f.type, f.metadata["help"]), name
        assert ours.default == {"block_size": 64, "activation": "gelu"}.get(name, f.default), name
    assert train["vocab_size"].metadata["help"].startswith("bpe vocabulary size")
    assert all(f.metadata["help"] for f in train.values())  # every flag of `attnlab train` says what it is
    assert TrainConfig().model_config(vocab_size=7) == GPTConfig(vocab_size=7, max_seq_len=64, activation="gelu")
    switched = TrainConfig(ffn=False, layer_norm_eps=1e-6, init="torch", block_size=9).model_config(5)
    assert (switched.ffn, switched.layer_norm_eps, switched.init, switched.max_seq_len) == (False, 1e-6, "torch", 9)


@pytest.mark.parametrize("fields, message", [
    (dict(d_model=30, n_heads=4), "divisible"),
    (dict(batch_size=0), "batch_size"),
    (dict(dtype="fp8"), "unknown dtype"),
    (dict(tokenizer="morse"), "unknown tokenizer"),
    (dict(min_lr=1.0, learning_rate=0.1), "min_lr"),
    (dict(activation="swish"), "swish"),
])
def test_bad_fields_are_errors(fields, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**fields)


def test_unknown_preset_and_keys():
    with pytest.raises(ValueError, match="unknown preset 'gpu'"):
        preset_config("gpu")
    with pytest.raises(ValueError, match="unknown train config key.*max_iter"):
        TrainConfig.from_dict({"max_iter": 3})


def test_toml(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('preset = "seed"\nmax_iters = 10\nlearning_rate = 3e-4\n', encoding="utf-8")
    assert load_toml(str(path)) == {"preset": "seed", "max_iters": 10, "learning_rate": 3e-4}
    path.write_text("max_iters = 10\nwarmup = 3\n", encoding="utf-8")
    with pytest.raises(ValueError, match="unknown config key.*warmup"):
        load_toml(str(path))
    path.write_text("max_iters = \n", encoding="utf-8")
    with pytest.raises(ValueError, match="not valid TOML"):
        load_toml(str(path))


@pytest.mark.parametrize("field, value, words", [
    ("n_layers", True, "n_layers must be an integer, got True"),
    ("n_layers", 2.5, "n_layers must be an integer, got 2.5"),
    ("bias", 1, "bias must be true or false, got 1"),
    ("dropout", float("nan"), "dropout must be a finite number, got nan"),
    ("dropout", 10 ** 400, "dropout must be a finite number, got 1000000000000000000000000000000000000..."),
    ("norm", None, "norm must be a string, got None"),
    ("d_ff", "64", "d_ff must be an integer or none, got '64'"),
])
def test_a_value_of_the_wrong_type_is_one_line_naming_the_field(field, value, words):
    with pytest.raises(ValueError) as err:
        GPTConfig(**{field: value})
    assert str(err.value) == words


@pytest.mark.parametrize("fields, words", [
    (dict(n_heads=0), "n_heads must be a positive integer, got 0"),
    (dict(d_ff=0), "d_ff must be a positive integer, got 0"),
    (dict(d_model=30, n_heads=4), "d_model (30) must be divisible by n_heads (4)"),
    (dict(dropout=1.0), "dropout must be in [0, 1), got 1.0"),
    (dict(layer_norm_eps=0.0), "layer_norm_eps must be > 0, got 0.0"),
    (dict(norm="mid"), "unknown norm 'mid'; choose one of pre, post, none"),
    (dict(position="rope"), "unknown position 'rope'; choose one of learned, sinusoidal"),
])
def test_gpt_config_values_are_checked_where_they_are_set(fields, words):
    with pytest.raises(ValueError) as err:
        GPTConfig(**fields)
    assert str(err.value) == words


def test_a_gpt_config_round_trips_through_a_dict_and_unknown_keys_are_named():
    config = GPTConfig.seed(vocab_size=65, norm="post", d_ff=96)
    assert GPTConfig.from_dict(config.to_dict()) == config and config.d_head == 16
    with pytest.raises(ValueError, match=r"unknown model config key\(s\): heads, layers \(known: activation, "):
        GPTConfig.from_dict({"layers": 2, "heads": 4})


def test_seq2seq_configs_are_continuous_or_tokens_on_both_sides():
    assert Seq2SeqConfig().continuous and not Seq2SeqConfig(src_vocab_size=5, tgt_vocab_size=7).continuous
    with pytest.raises(ValueError, match="must both be 0 \\(continuous\\) or both positive"):
        Seq2SeqConfig(src_vocab_size=5)
    with pytest.raises(ValueError, match="src_vocab_size must be 0 \\(continuous\\) or a positive integer, got -1"):
        Seq2SeqConfig(src_vocab_size=-1, tgt_vocab_size=3)
    with pytest.raises(ValueError, match="d_model \\(9\\) must be even"):
        Seq2SeqConfig(d_model=9, n_heads=3)
    with pytest.raises(ValueError, match="unknown norm 'none'; choose one of pre, post"):
        Seq2SeqConfig(norm="none")


def test_tuple_fields_hold_items_of_their_kind():
    @dataclasses.dataclass
    class Sweep:
        rates: tuple[float, ...] = (0.1, 0.01)

    check_types(Sweep())
    check_types(Sweep(rates=[1, 2.5]))  # a list from TOML, integers are numbers
    for bad in ((0.1, "x"), 0.1, (float("inf"),)):
        with pytest.raises(ValueError, match="rates must be a list of finite numbers"):
            check_types(Sweep(rates=bad))
