"""attnlab: transformers from scratch, for learners.

>>> import torch, attnlab
>>> out, weights = attnlab.attention(torch.eye(3)[:1], torch.eye(3), torch.eye(3), scale=1.0)
>>> round(weights.sum().item(), 6)
1.0

`import attnlab` itself is cheap: each public name is imported from its module the first time it
is used (`attnlab.GPT` imports attnlab.model.gpt, and torch with it), so `attnlab --help` starts
without loading torch (which alone takes over a second to import).
"""

import importlib
import sys
import types

__version__ = "0.1.0"

# Each public name and the module it lives in.
_HOMES = {
    "attention": "attnlab.model.attention",
    "causal_mask": "attnlab.model.attention",
    "Head": "attnlab.model.attention",
    "ConcatHeadsAttention": "attnlab.model.attention",
    "MultiHeadAttention": "attnlab.model.attention",
    "FeedForward": "attnlab.model.feedforward",
    "Block": "attnlab.model.block",
    "GPT": "attnlab.model.gpt",
    "GPTConfig": "attnlab.config",
    "KVCache": "attnlab.model.kv_cache",
    "generate": "attnlab.generate",
    "generate_tokens": "attnlab.generate",
    "SinusoidalPositionalEncoding": "attnlab.model.embeddings",
    "EncoderDecoder": "attnlab.model.seq2seq",
    "Seq2SeqConfig": "attnlab.config",
    "record": "attnlab.look.hooks",
    "intervene": "attnlab.look.hooks",
    "point_names": "attnlab.look.hooks",
    "capture_attention": "attnlab.look.capture",
    "load_minilm": "attnlab.interop.minilm",
    "TrainConfig": "attnlab.config",
    "preset_config": "attnlab.config",
    "train_run": "attnlab.train.run",
    "load_model": "attnlab.runs.checkpoint",
}

__all__ = list(_HOMES)


def __getattr__(name: str):
    """attnlab.GPT and `from attnlab import GPT`: import the name's module now, once."""
    if name not in _HOMES:
        raise AttributeError(f"module 'attnlab' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value  # found directly from now on
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})


class _Package(types.ModuleType):
    """attnlab's own module type, for one name: Python binds a submodule to its package's attribute
    of the same name when it is first imported, and the module attnlab.generate must not hide the
    function attnlab.generate."""

    def __setattr__(self, name: str, value) -> None:
        if isinstance(value, types.ModuleType) and _HOMES.get(name) == value.__name__:
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
