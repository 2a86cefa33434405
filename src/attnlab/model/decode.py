"""One decoding step of a GPT with KV caches, as plain tensor arithmetic: the new token's logits.

Generating a token runs the whole model on one position. The modules do that too, but at one
position the arithmetic is small (4 layers × 128 wide: about 0.2 MFLOP per block) and what
costs is the way there: module calls, the named points, reshapes of (B, T, C) into heads and
back. Here each block is the same formula as `Block` and `MultiHeadAttention`, written out for
T = 1, where (B, 1, C) *is* (B, H, 1, D) in memory, so the heads need no transposes:

    h = ln1(x);  q, k, v = W_qkv h         the new key and value go into the layer's cache
    z = softmax(q·Kᵀ/√D) V                 one query over every cached key: no mask needed
    x = x + W_O z;  x = x + W_down act(W_up ln2(x))        (pre-LN; post-LN as in block.py)

and the logits come from a (C, V) copy of the lm_head's weight: on an AVX2 EPYC, MKL's
matrix-vector product with the (V, C) weight took 7.0 ms for GPT-2's vocabulary of 50,257,
the same product with the weight laid out (C, V) 2.2 ms (benchmarks/README.md, "Generation").

`GPT.forward` takes this path only where it gives what the modules give (tested equal): eval
mode, one new token, a KV cache, nothing attached to a named point, every attention on its
fast path. PyTorch's own module hooks (`register_forward_hook`) are not called here.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from attnlab.model.block import Block
from attnlab.model.kv_cache import KVCache


def norm(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A block's LayerNorm (or the identity of norm="none"), without the module call."""
    if isinstance(module, nn.LayerNorm):
        return F.layer_norm(x, module.normalized_shape, module.weight, module.bias, module.eps)
    return x


def attention_step(block: Block, h: torch.Tensor, cache: KVCache) -> torch.Tensor:
    """h (B, 1, C), the new position's attention input -> the attention output (B, 1, C)."""
    attn = block.attn
    B, _, C = h.shape
    H, D = attn.n_heads, attn.d_head
    q, k, v = F.linear(h, attn.qkv.weight, attn.qkv.bias).view(B, 3, H, 1, D).unbind(1)  # 3 x (B, H, 1, D)
    keys, values = cache.append(k, v)  # (B, H, S, D): every position so far
    z = F.scaled_dot_product_attention(q, keys, values)  # (B, H, 1, D)
    z = z.view(B, 1, C)  # the heads, concatenated
    if isinstance(attn.proj, nn.Linear):
        z = F.linear(z, attn.proj.weight, attn.proj.bias)
    return z


def feedforward_step(block: Block, h: torch.Tensor) -> torch.Tensor:
    ffwd = block.ffwd
    up = F.linear(h, ffwd.up.weight, ffwd.up.bias)  # (B, 1, d_ff)
    return F.linear(ffwd.act(up), ffwd.down.weight, ffwd.down.bias)  # (B, 1, C)


def block_step(block: Block, x: torch.Tensor, cache: KVCache) -> torch.Tensor:
    """One block at the new position: x (B, 1, C) -> (B, 1, C), as `Block.forward` computes it."""
    skip = block.residual
    if block.pre_norm:
        a = attention_step(block, norm(block.ln1, x), cache)
        x = x + a if skip else a
        if block.ffwd is not None:
            f = feedforward_step(block, norm(block.ln2, x))
            x = x + f if skip else f
        return x
    a = attention_step(block, x, cache)
    x = norm(block.ln1, x + a if skip else a)
    if block.ffwd is not None:
        f = feedforward_step(block, x)
        x = norm(block.ln2, x + f if skip else f)
    return x


def decode_step(model: nn.Module, idx: torch.Tensor, caches: list[KVCache], head: torch.Tensor) -> torch.Tensor:
    """idx (B, 1), the newest token of each row -> its next-token logits (B, 1, V).

    caches hold every earlier position and receive this one's keys and values; head is the
    lm_head weight laid out (C, V) (`GPT.decode_head`)."""
    position = caches[0].length
    x = model.token_embedding_table.weight[idx] + model.position_embedding_table.weight[position]  # (B, 1, C)
    for block, cache in zip(model.blocks, caches):
        x = block_step(block, x, cache)
    logits = norm(model.ln_f, x) @ head  # (B, 1, V)
    if model.lm_head.bias is not None:
        logits = logits + model.lm_head.bias
    return logits
