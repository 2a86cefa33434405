"""One decoding step of a GPT with KV caches, as plain tensor arithmetic: the new token's logits.

Generating a token runs the whole model on one position. The modules do that too, but at one
position the arithmetic is small (4 layers × 128 wide: about 0.2 MFLOP per block) and what
costs is the way there: module calls, the named points, reshapes of (B, T, C) into heads and
back. Here each block is the same formula as `Block` and `MultiHeadAttention`, written out for
T = 1, where (B, 1, C) *is* (B, H, 1, D) in memory, so the heads need no transposes:

    h = ln1(x);  q, k, v = W_qkv h         the new key and value go into the layer's cache
    z = softmax(q·Kᵀ/√D) V                 one query over every cached key: no mask needed
    x = x + W_O z;  x = x + W_down act(W_up ln2(x))        (pre-LN; post-LN as in block.py)

and the logits come from the lm_head's weight laid out as P slices of the vocabulary, (P, C, V/P),
one per torch thread (`vocab_slices`): one batched product, which PyTorch shares out among its
threads a slice each. MKL computes a one-row product on one thread, and reads the weight
(V, C) in the slow order: for GPT-2's vocabulary of 50,257 on a 2-core AMD EPYC (AVX-512) the
(V, C) product took 4.0 ms, a (C, V) copy 1.04 ms, two (C, V/2) slices 0.46 ms (reading the
25.7 MB weight once, `W.sum()`, 0.2 to 0.24 ms; benchmarks/README.md, "Generation").

`Decoder` takes this path only where it gives what the modules give (tested equal: tests/fast/):
eval mode, one new token, a KV cache, nothing attached to a named point or to PyTorch's own module
hooks (`register_forward_hook`, which only a module call runs), every attention on its fast path;
anywhere else it calls the model. `generate_tokens` here is attnlab.generate's loop stepping with it.
"""

from __future__ import annotations

import weakref
from typing import Callable, Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F

from attnlab.generate import generate as generate_reference
from attnlab.generate import generate_tokens as generate_tokens_reference
from attnlab.generate import stream_sample as stream_sample_reference
from attnlab.model.attention import MultiHeadAttention
from attnlab.model.block import Block
from attnlab.model.feedforward import FeedForward
from attnlab.model.gpt import is_gpt
from attnlab.model.kv_cache import KVCache
from attnlab.model.points import named_points


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


def known_parts(block: nn.Module) -> bool:
    """Whether `block_step` computes this block: the parts `components.make_block` builds (a block
    handed another kind of norm, attention or feed-forward layer runs through its modules)."""
    norms = (nn.LayerNorm, nn.Identity, type(None))
    return (type(block) is Block and type(block.attn) is MultiHeadAttention
            and isinstance(block.attn.proj, (nn.Linear, nn.Identity))
            and (block.ffwd is None or type(block.ffwd) is FeedForward)
            and isinstance(block.ln1, norms) and isinstance(block.ln2, norms))


def has_module_hooks(modules: list[nn.Module]) -> bool:
    """Whether a PyTorch forward hook is registered on any of `modules`, or for every module
    (`register_module_forward_hook`): decode_step calls no module, so it would skip them."""
    if nn.modules.module._global_forward_hooks or nn.modules.module._global_forward_pre_hooks:
        return True
    return any(m._forward_hooks or m._forward_pre_hooks for m in modules)


def vocab_slices(weight: torch.Tensor, parts: int) -> torch.Tensor:
    """The lm_head weight (V, C) as `parts` slices of the vocabulary laid out (C, V/parts):
    (parts, C, ceil(V / parts)), the last slice padded with zero columns.

    >>> vocab_slices(torch.arange(6.).view(3, 2), 2).tolist()  # V=3, C=2: tokens {0, 1} and {2, pad}
    [[[0.0, 2.0], [1.0, 3.0]], [[4.0, 0.0], [5.0, 0.0]]]
    """
    V, C = weight.shape
    width = -(-V // parts)  # ceil(V / parts)
    head = weight.new_zeros(parts * width, C)  # (P * V/P, C): the padding rows stay 0
    head[:V] = weight
    return head.view(parts, width, C).transpose(1, 2).contiguous()  # (P, C, V/P)


def decode_step(model: nn.Module, idx: torch.Tensor, caches: list[KVCache], head: torch.Tensor) -> torch.Tensor:
    """idx (B, 1), the newest token of each row -> its next-token logits (B, 1, V).

    caches hold every earlier position and receive this one's keys and values; head is the
    lm_head weight as slices of the vocabulary, (P, C, V/P) (`vocab_slices`, `decode_head`)."""
    position = caches[0].length
    x = model.token_embedding_table.weight[idx] + model.position_embedding_table.weight[position]  # (B, 1, C)
    for block, cache in zip(model.blocks, caches):
        x = block_step(block, x, cache)
    B, _, C = x.shape
    P, _, width = head.shape
    h = norm(model.ln_f, x).view(1, B, C).expand(P, B, C)  # the same rows for every slice
    logits = torch.bmm(h, head)  # (P, B, V/P): a thread a slice
    logits = logits.transpose(0, 1).reshape(B, 1, P * width)[..., :model.lm_head.weight.shape[0]]  # (B, 1, V)
    if model.lm_head.bias is not None:
        logits = logits + model.lm_head.bias
    return logits


_HEADS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> (what it was made of, slices)


def decode_head(model: nn.Module) -> torch.Tensor:
    """The model's lm_head weight as one slice of the vocabulary per torch thread on a CPU (one
    slice on a GPU), (P, C, V/P): made once and kept until the weight changes (an optimizer step
    or a load bumps its version counter) or the thread count does."""
    w = model.lm_head.weight
    key = (w.data_ptr(), w._version, torch.get_num_threads() if w.device.type == "cpu" else 1)
    kept = _HEADS.get(model)
    if kept is None or kept[0] != key:
        with torch.no_grad():
            kept = _HEADS[model] = (key, vocab_slices(w, key[2]))  # (P, C, V/P)
    return kept[1]


class Decoder:
    """The one-token step of a GPT's generation: `decoder(token (B, 1), caches) -> logits (B, 1, V)`.

    `decode_step` where it gives what the modules give, the model's own forward anywhere else;
    checked at every step, so a point or hook attached mid-way is honoured from the next token."""

    def __init__(self, model: nn.Module):
        self.model = model
        self.points = list(named_points(model).values())
        self.modules = list(model.modules())
        self.known = all(known_parts(block) for block in model.blocks)

    def plain(self) -> bool:
        """Parts `decode_step` knows, eval mode, nothing attached to any point or PyTorch module
        hook, every attention on its fast path (`use_sdpa`): what the modules would compute is
        what `decode_step` computes."""
        return (self.known and not self.model.training and not any(p.fns for p in self.points)
                and not has_module_hooks(self.modules) and all(block.attn.use_sdpa for block in self.model.blocks))

    def __call__(self, token: torch.Tensor, caches: list[KVCache]) -> torch.Tensor:
        if self.plain():
            return decode_step(self.model, token, caches, decode_head(self.model))
        return self.model(token, kv_caches=caches)[0]


def decoder_for(model: nn.Module) -> Callable[[torch.Tensor, list[KVCache]], torch.Tensor] | None:
    """A `Decoder` for a GPT with blocks; None (the model's forward) for any other model."""
    return Decoder(model) if is_gpt(model) else None


def generate_tokens(model: nn.Module, idx: torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
                    top_k: int | None = None, top_p: float | None = None,
                    generator: torch.Generator | None = None, use_cache: bool = True) -> Iterator[torch.Tensor]:
    """`attnlab.generate.generate_tokens` (the same tokens, tested), each step by `Decoder`."""
    return generate_tokens_reference(model, idx, max_new_tokens, temperature, top_k, top_p, generator,
                                     use_cache, step=decoder_for(model))


def generate(model: nn.Module, idx: torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
             top_k: int | None = None, top_p: float | None = None,
             generator: torch.Generator | None = None, use_cache: bool = True) -> torch.Tensor:
    """idx (B, T) -> (B, T + max_new_tokens), as `attnlab.generate.generate`, each step by `Decoder`."""
    return generate_reference(model, idx, max_new_tokens, temperature, top_k, top_p, generator, use_cache,
                              step=decoder_for(model))


def stream_sample(model: nn.Module, tokenizer, prompt_ids: list[int], max_new_tokens: int,
                  write: Callable[[str], None], temperature: float = 1.0, top_k: int | None = None,
                  top_p: float | None = None, generator: torch.Generator | None = None) -> str:
    """`attnlab.generate.stream_sample`, each step by `Decoder`: the new text, written as it appears."""
    return stream_sample_reference(model, tokenizer, prompt_ids, max_new_tokens, write, temperature, top_k,
                                   top_p, generator, step=decoder_for(model))
