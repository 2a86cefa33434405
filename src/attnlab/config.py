"""Configuration dataclasses. Only top-level models take a config; components take arguments."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, TypeVar
from attnlab.errors import UserError

C = TypeVar("C")

# The names a model config may choose from; attnlab.model builds from them.
NORMS = ("pre", "post", "none")  # pre-LN (seed 001, GPT-2), post-LN (seed 003, BERT), no LayerNorm
ACTIVATIONS = ("relu", "gelu", "gelu_tanh")  # seed 001, BERT, GPT-2's "gelu_new"
POSITIONS = ("learned", "sinusoidal")  # a trained table (seed 001, GPT-2), fixed waves (seed 002)


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise UserError(f"unknown {name} {value!r}; choose one of {', '.join(choices)}")
    return value


def check_model_fields(config: Any, norms: tuple[str, ...] = NORMS) -> None:
    """What every model config shares: LayerNorm eps, heads that divide the width, dropout, and
    the names of its norm placement and activation."""
    if not config.layer_norm_eps > 0:
        raise UserError(f"layer_norm_eps must be > 0, got {config.layer_norm_eps}")
    if config.d_model % config.n_heads != 0:
        raise UserError(f"d_model ({config.d_model}) must be divisible by n_heads ({config.n_heads})")
    if not 0.0 <= config.dropout < 1.0:
        raise UserError(f"dropout must be in [0, 1), got {config.dropout}")
    check_choice("norm", config.norm, norms)
    check_choice("activation", config.activation, ACTIVATIONS)


def finite(value: int | float) -> bool:
    """Whether a number is finite as a float: NaN, inf and an integer too large for a float are not.

    >>> finite(0.5), finite(float("nan")), finite(10 ** 400)
    (True, False, False)
    """
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond float's range (10**400 in a JSON file)
        return False


def check_types(config: Any) -> None:
    """Every field of a config dataclass has its declared type: a bool is a bool (not 1, not
    "no"), an int is an int (not True, not 2.5), a float is a finite number, a str is a str.
    Values from TOML and config.json come through here, so a wrong type is one clear line."""
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        kinds = [k.strip() for k in str(f.type).split("|")]
        if value is None and "None" in kinds:
            continue
        kind = kinds[0]
        if kind.startswith("tuple["):  # tuple[float, ...]: every item of the kind inside
            _check_items(f.name, kind[6:].split(",")[0].strip(), value)
            continue
        ok = {"bool": lambda v: isinstance(v, bool),
              "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
              "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and finite(v),
              "str": lambda v: isinstance(v, str)}[kind](value)
        if not ok:
            what = {"bool": "true or false", "int": "an integer", "float": "a finite number", "str": "a string"}[kind]
            shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
            raise UserError(f"{f.name} must be {what}{' or none' if 'None' in kinds else ''}, got {shown}",
                            code="bad_type")


def _check_items(name: str, kind: str, value: Any) -> None:
    """A tuple field's value: a tuple (or list) whose items are all of `kind`."""
    ok = {"int": lambda v: isinstance(v, int) and not isinstance(v, bool),
          "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and finite(v),
          "str": lambda v: isinstance(v, str)}[kind]
    if not isinstance(value, (tuple, list)) or not all(ok(v) for v in value):
        what = {"int": "integers", "float": "finite numbers", "str": "strings"}[kind]
        raise UserError(f"{name} must be a list of {what}, got {value!r}", code="bad_type")


SEED_LIMIT = 2**63  # a seed is in [0, 2**63): what torch.manual_seed takes, as a signed 64-bit number
COUNT_LIMIT = 10**12  # any other integer (steps, tokens, sizes, positions): a trillion is a typo; below
# it, what a size allocates meets the memory check (model/memory.py)


def check_bounds(config: Any, flags: bool = False) -> None:
    """Every integer field in range, before any of them sizes a loop or an allocation: a seed (a
    field named seed or ending in _seed) in [0, 2**63), any other integer within ±10**12. `flags`:
    name the field as its flag (`--seed`), as the labs' messages do.

    >>> @dataclass
    ... class Toy:
    ...     steps: int = 10**20
    >>> check_bounds(Toy(), flags=True)
    Traceback (most recent call last):
    attnlab.errors.UserError: --steps must be at most 10**12, got 100000000000000000000
    """
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        values = value if isinstance(value, (tuple, list)) else (value,)
        for v in (v for v in values if isinstance(v, int) and not isinstance(v, bool)):
            name = "--" + f.name.replace("_", "-") if flags else f.name
            if f.name == "seed" or f.name.endswith("_seed"):
                if not 0 <= v < SEED_LIMIT:
                    raise UserError(f"{name} must be in [0, 2**63) (what torch.manual_seed takes), got {v}",
                                    code="out_of_range")
            elif not -COUNT_LIMIT <= v <= COUNT_LIMIT:
                side = "at most 10**12" if v > 0 else "at least -10**12"
                raise UserError(f"{name} must be {side}, got {v}", code="out_of_range")


def check_positive(config: Any, *names: str) -> None:
    """Each named field is a positive integer (booleans are not integers here)."""
    for name in names:
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise UserError(f"{name} must be a positive integer, got {value!r}")


def config_from_dict(cls: type[C], data: dict[str, Any], source: str = "config") -> C:
    """Build a dataclass from a dict; an unknown key is an error that names it."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise UserError(f"unknown {source} key(s): {', '.join(unknown)} (known: {', '.join(sorted(names))})")
    return cls(**data)


def setting(default: Any, text: str) -> Any:
    """A config field with its help, which `attnlab train --help` prints after the flag:
    `n_layers: int = setting(4, "transformer blocks")`."""
    return dataclasses.field(default=default, metadata={"help": text})


@dataclass
class GPTConfig:
    """A decoder-only language model (seed 001's `GPT`, or GPT-2 exactly).

    The defaults are GPT-2's architecture at a small size; `GPTConfig.seed()` is seed 001's.
    Every field but vocab_size is also a TrainConfig field and an `attnlab train` flag, with
    this help text (max_seq_len is called block_size there).
    """

    vocab_size: int = setting(50257, "tokens in the vocabulary (GPT-2's tokenizer)")
    max_seq_len: int = setting(256, "context length in tokens: the positions the model has")  # the seed's block_size
    d_model: int = setting(128, "model width (the seed's n_embd)")
    n_heads: int = setting(4, "attention heads per block")
    n_layers: int = setting(4, "transformer blocks")
    d_ff: int | None = setting(None, "feed-forward width (none: 4 * d_model)")
    activation: str = setting("gelu_tanh", "relu (seed 001), gelu (BERT, nanoGPT) or gelu_tanh (GPT-2)")
    norm: str = setting("pre", "pre (seed 001, GPT-2), post (seed 003) or none (no LayerNorm)")
    dropout: float = setting(0.0, "dropout probability")
    bias: bool = setting(True, "biases in Linear and LayerNorm layers")
    qkv_bias: bool = setting(True, "biases in the q/k/v projection (seed 001's have none)")
    tie_weights: bool = setting(True, "share the token embedding with lm_head (GPT-2 does)")
    lm_head_bias: bool = setting(False, "a bias in lm_head (seed 001's, a plain nn.Linear, has one)")
    layer_norm_eps: float = setting(1e-5, "the epsilon LayerNorm adds to the variance")
    # Parts that can be taken away (the rungs of `attnlab ladder`); the defaults keep them all.
    bigram: bool = setting(False, "a bigram model: logits from a (vocab, vocab) table; no positions, blocks "
                                  "or lm_head")
    ffn: bool = setting(True, "a feed-forward layer in every block (False: attention-only blocks)")
    residual: bool = setting(True, "residual connections: x + sublayer(x) (False: x = sublayer(x))")
    attn_proj: bool = setting(True, "the attention output projection W_O after the concatenated heads")
    init: str = setting("gpt2", "weight initialisation: gpt2 (N(0, 0.02)), torch (PyTorch's defaults, as in "
                                "the GPT lecture) or lecun (N(0, 1/fan_in), the grokking lab's)")
    position: str = setting("learned", "position encoding: learned (a trained table: seed 001, GPT-2) or "
                                       "sinusoidal (fixed sin/cos waves: seed 002)")

    def __post_init__(self) -> None:
        check_types(self)
        check_bounds(self)
        check_positive(self, "vocab_size", "max_seq_len", "d_model", "n_heads", "n_layers")
        if self.d_ff is not None:
            check_positive(self, "d_ff")
        check_model_fields(self)
        check_choice("position", self.position, POSITIONS)
        if self.init not in ("gpt2", "torch", "lecun"):
            raise UserError(f"unknown init {self.init!r}; choose gpt2 (N(0, 0.02)), torch (PyTorch's defaults) or "
                            f"lecun (N(0, 1/fan_in))")

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_heads

    @classmethod
    def seed(cls, vocab_size: int = 50257, max_seq_len: int = 8, **overrides: Any) -> "GPTConfig":
        """Seed 001's model: n_embd 64, 4 heads of 16, 4 layers, ReLU, bias-free q/k/v,
        a separate lm_head (an nn.Linear, so with a bias)."""
        fields = dict(vocab_size=vocab_size, max_seq_len=max_seq_len, d_model=64, n_heads=4, n_layers=4,
                      activation="relu", qkv_bias=False, tie_weights=False, lm_head_bias=True)
        fields.update(overrides)
        return cls(**fields)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "GPTConfig":
        return config_from_dict(cls, data, "model config")


@dataclass
class Seq2SeqConfig:
    """An encoder-decoder transformer (seed 002). The defaults are seed 002's model:
    `nn.Transformer(d_model=16, nhead=2, 2 + 2 layers, dim_feedforward=32)`, post-LN, ReLU,
    dropout 0.1, continuous inputs (a vocab size of 0 means `Linear(1, d_model)` in and
    `Linear(d_model, 1)` out instead of an embedding table and a vocabulary head)."""

    src_vocab_size: int = 0  # 0: continuous source values (B, S, 1)
    tgt_vocab_size: int = 0  # 0: continuous target values (B, T, 1), trained with MSE
    max_seq_len: int = 5000  # rows in the positional-encoding table (seed 002's max_len)
    d_model: int = 16
    n_heads: int = 2
    n_encoder_layers: int = 2
    n_decoder_layers: int = 2
    d_ff: int = 32
    activation: str = "relu"
    norm: str = "post"  # nn.Transformer's default (norm_first=False); "pre" = norm_first=True
    dropout: float = 0.1  # nn.Transformer's default
    layer_norm_eps: float = 1e-5

    def __post_init__(self) -> None:
        check_types(self)
        check_bounds(self)
        check_positive(self, "max_seq_len", "d_model", "n_heads", "n_encoder_layers", "n_decoder_layers", "d_ff")
        check_model_fields(self, norms=("pre", "post"))
        for name in ("src_vocab_size", "tgt_vocab_size"):
            value = getattr(self, name)
            if value < 0:
                raise UserError(f"{name} must be 0 (continuous) or a positive integer, got {value!r}")
        if (self.src_vocab_size == 0) != (self.tgt_vocab_size == 0):
            raise UserError("src_vocab_size and tgt_vocab_size must both be 0 (continuous) or both positive")
        if self.d_model % 2 != 0:
            raise UserError(f"d_model ({self.d_model}) must be even for the sinusoidal positional encoding")

    @property
    def continuous(self) -> bool:
        return self.src_vocab_size == 0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Seq2SeqConfig":
        return config_from_dict(cls, data, "seq2seq model config")


# ---------------------------------------------------------------------------------------------
# Training

DTYPES = ("auto", "fp32", "bf16", "fp16")
TOKENIZERS = ("char", "bpe", "gpt2")

# TrainConfig's model fields are GPTConfig's, derived from it (help texts included), except
# vocab_size, which the tokenizer fixes (TrainConfig.vocab_size is the bpe vocabulary to train).
TRAIN_NAMES = {"max_seq_len": "block_size"}  # nanoGPT's name for the context length
TRAIN_DEFAULTS = {"block_size": 64, "activation": "gelu"}  # the cpu preset's (nanoGPT's); the rest are GPTConfig's


def model_settings() -> list[tuple[str, Any, dataclasses.Field]]:
    """GPTConfig's fields as TrainConfig holds them: (name, type, field), in GPTConfig's order."""
    settings = []
    for f in dataclasses.fields(GPTConfig):
        if f.name != "vocab_size":
            name = TRAIN_NAMES.get(f.name, f.name)
            settings.append((name, f.type, setting(TRAIN_DEFAULTS.get(name, f.default), f.metadata["help"])))
    return settings


# The model half of TrainConfig: block_size, d_model, n_heads, n_layers, d_ff, ..., init.
ModelSettings = dataclasses.make_dataclass("ModelSettings", model_settings(), namespace={"__module__": __name__})
MODEL_FIELDS = tuple(f.name for f in dataclasses.fields(ModelSettings))


@dataclass
class TrainConfig(ModelSettings):
    """Everything one training run needs: the model (ModelSettings: GPTConfig's fields, see
    MODEL_FIELDS), data, optimiser, schedule, hardware.

    The defaults are the `cpu` preset, nanoGPT's documented CPU recipe for tiny shakespeare
    (val loss ≈ 1.88 after 2000 iterations). Every field is also a command-line flag of
    `attnlab train`, with its help text, and a key of a `--config file.toml`.
    """

    # data
    corpus: str = setting("shakespeare", "built-in corpus (see `attnlab corpora`), a text file, a folder of "
                                         ".txt files, or - for stdin")
    tokenizer: str = setting("char", "char, bpe (trained on the corpus) or gpt2")
    vocab_size: int | None = setting(None, "bpe vocabulary size (bpe only; none: 1024)")
    val_fraction: float = setting(0.1, "fraction of tokens held out for validation (the end of the corpus)")
    # optimisation: AdamW, linear warmup then cosine decay to min_lr
    batch_size: int = setting(12, "sequences per micro-batch (per process under DDP)")
    grad_accum_steps: int = setting(1, "micro-batches summed into one optimiser step")
    max_iters: int = setting(2000, "optimiser steps")
    learning_rate: float = setting(1e-3, "peak learning rate")
    min_lr: float = setting(1e-4, "learning rate at the end of the cosine decay")
    warmup_iters: int = setting(100, "linear warmup steps")
    lr_decay_iters: int | None = setting(None, "cosine decay length (none: max_iters)")
    weight_decay: float = setting(0.1, "AdamW weight decay (2-D weights only: not biases, not LayerNorm)")
    beta1: float = setting(0.9, "AdamW beta1")
    beta2: float = setting(0.99, "AdamW beta2")
    grad_clip: float = setting(1.0, "max gradient norm (0: no clipping)")
    # evaluation and logging
    eval_interval: int = setting(250, "estimate losses and save a checkpoint every N steps")
    eval_iters: int = setting(20, "batches averaged per loss estimate")
    log_interval: int = setting(1, "write the training loss to metrics.jsonl every N steps")
    # hardware and reproducibility
    device: str = setting("auto", "auto, cpu, cuda, cuda:N or mps")
    dtype: str = setting("auto", "auto (bf16 autocast on a GPU that has it and on a CPU with native bf16: "
                                 "AVX-512 BF16 or AMX; else fp32), fp32, bf16 (autocast; emulated and slow on other "
                                 "CPUs) or fp16 (autocast + GradScaler, CUDA only); a run stores what auto chose")
    compile: bool = setting(False, "torch.compile the model")
    seed: int = setting(1337, "random seed (weights, batches, dropout)")

    def __post_init__(self) -> None:
        check_types(self)
        check_bounds(self)
        check_positive(self, "n_layers", "n_heads", "d_model", "block_size", "batch_size", "grad_accum_steps",
                       "max_iters", "eval_interval", "eval_iters", "log_interval")
        if self.tokenizer not in TOKENIZERS:
            raise UserError(f"unknown tokenizer {self.tokenizer!r}; choose one of {', '.join(TOKENIZERS)}")
        if self.dtype not in DTYPES:
            raise UserError(f"unknown dtype {self.dtype!r}; choose one of {', '.join(DTYPES)}")
        if self.vocab_size is not None:
            check_positive(self, "vocab_size")
        if not 0.0 < self.val_fraction < 1.0:
            raise UserError(f"val_fraction must be in (0, 1), got {self.val_fraction}")
        if not 0.0 <= self.min_lr <= self.learning_rate:
            raise UserError(f"need 0 <= min_lr ({self.min_lr}) <= learning_rate ({self.learning_rate})")
        if self.warmup_iters < 0:
            raise UserError(f"warmup_iters must be >= 0, got {self.warmup_iters}")
        if self.lr_decay_iters is not None and self.lr_decay_iters <= self.warmup_iters:
            raise UserError(f"lr_decay_iters ({self.lr_decay_iters}) must be > warmup_iters ({self.warmup_iters})")
        if self.grad_clip < 0 or self.weight_decay < 0:
            raise UserError(f"grad_clip ({self.grad_clip}) and weight_decay ({self.weight_decay}) must be >= 0")
        if not self.learning_rate > 0:
            raise UserError(f"learning_rate must be > 0, got {self.learning_rate}")
        for name in ("beta1", "beta2"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise UserError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if self.seed < 0:
            raise UserError(f"seed must be >= 0, got {self.seed}")
        self.model_config(vocab_size=1)  # checks the model fields (e.g. d_model % n_heads)

    def model_config(self, vocab_size: int) -> GPTConfig:
        """The GPTConfig this run trains, once the tokenizer has fixed the vocabulary size."""
        fields = {f.name: getattr(self, TRAIN_NAMES.get(f.name, f.name)) for f in dataclasses.fields(GPTConfig)
                  if f.name != "vocab_size"}
        return GPTConfig(vocab_size=vocab_size, **fields)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        return config_from_dict(cls, data, "train config")


# Presets: overrides of TrainConfig's defaults (which are the `cpu` preset).
PRESETS: dict[str, dict[str, Any]] = {
    # nanoGPT's CPU recipe (README "I only have a macbook"): 4/4/128, block 64, batch 12, 2000 iters
    "cpu": {},
    # nanoGPT's config/train_shakespeare_char.py (a GPU, ~1.47 val loss)
    "shakespeare": dict(n_layers=6, n_heads=6, d_model=384, block_size=256, batch_size=64, dropout=0.2,
                        max_iters=5000, eval_iters=200),
    # seed 001's GPT (GPTConfig.seed()): n_embd 64, 4 heads of 16, 4 layers, ReLU, bias-free q/k/v,
    # an untied lm_head; the context length stays the preset's block_size
    "seed": {name: getattr(GPTConfig.seed(), name) for name in MODEL_FIELDS if name != "block_size"},
}


def preset_config(name: str, **overrides: Any) -> TrainConfig:
    """A preset with some fields changed: `preset_config("cpu", max_iters=100)`."""
    if name not in PRESETS:
        raise UserError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    fields = {**PRESETS[name], **overrides}
    return config_from_dict(TrainConfig, fields, "train config")


TOML_LIMIT = 2**20  # a --config file of settings is a few hundred bytes


def load_toml(path: str, known: set[str] | None = None) -> dict[str, Any]:
    """Read a flat TOML file of TrainConfig fields (plus an optional `preset = "..."`), or of the
    `known` keys (a lab's settings); an unknown key is an error naming it. Values are checked when
    the config is built."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    from attnlab.io import read_text_limited

    try:
        data = tomllib.loads(read_text_limited(path, TOML_LIMIT, "the --config file"))
    except UnicodeDecodeError:
        raise UserError(f"{path} is not valid TOML (not UTF-8 text)") from None
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path} is not valid TOML ({exc})") from None
    if known is None:
        known = {f.name for f in dataclasses.fields(TrainConfig)} | {"preset"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise UserError(f"unknown config key(s) in {path}: {', '.join(unknown)}")
    return data
