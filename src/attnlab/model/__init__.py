"""The model components, from one attention head to a whole GPT."""

from attnlab.model.attention import ConcatHeadsAttention, Head, MultiHeadAttention, attention, causal_mask
from attnlab.model.block import Block
from attnlab.model.feedforward import FeedForward
from attnlab.model.gpt import GPT
from attnlab.model.kv_cache import KVCache

__all__ = ["attention", "causal_mask", "Head", "ConcatHeadsAttention", "MultiHeadAttention", "FeedForward",
           "Block", "GPT", "KVCache"]
