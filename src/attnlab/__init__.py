"""attnlab: transformers from scratch, for learners.

>>> import torch, attnlab
>>> out, weights = attnlab.attention(torch.eye(3)[:1], torch.eye(3), torch.eye(3), scale=1.0)
>>> round(weights.sum().item(), 6)
1.0
"""

from attnlab.config import GPTConfig, Seq2SeqConfig
from attnlab.generate import generate, generate_tokens
from attnlab.look.hooks import intervene, point_names, record
from attnlab.model import (GPT, Block, ConcatHeadsAttention, FeedForward, Head, KVCache, MultiHeadAttention,
                           attention, causal_mask)
from attnlab.model.embeddings import SinusoidalPositionalEncoding
from attnlab.model.seq2seq import EncoderDecoder

__version__ = "0.1.0"

__all__ = ["attention", "causal_mask", "Head", "ConcatHeadsAttention", "MultiHeadAttention", "FeedForward",
           "Block", "GPT", "GPTConfig", "KVCache", "generate", "generate_tokens",
           "SinusoidalPositionalEncoding", "EncoderDecoder", "Seq2SeqConfig",
           "record", "intervene", "point_names", "capture_attention", "load_minilm"]


def __getattr__(name: str):
    # attnlab.viz's package brings in the renderers (matplotlib), attnlab.interop.minilm the tokenizers
    # library; load them only when asked for.
    if name == "capture_attention":
        from attnlab.look.capture import capture_attention

        return capture_attention
    if name == "load_minilm":
        from attnlab.interop.minilm import load_minilm

        return load_minilm
    raise AttributeError(f"module 'attnlab' has no attribute {name!r}")
