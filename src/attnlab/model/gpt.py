"""A GPT language model (seed 001), which with the right `GPTConfig` is exactly GPT-2.

    idx (B, T) → token_embedding_table + position_embedding_table → (B, T, C)
               → blocks (causal self-attention + feed-forward) × n_layers → (B, T, C)
               → ln_f → lm_head → logits (B, T, V)

Named points (`attnlab.record`, `attnlab.intervene`): `embed` (B, T, C) the first block's input
(token + position embedding, after dropout), `blocks.{i}.…` (see block.py and attention.py),
`ln_f` (B, T, C) and `logits` (B, T, V).

With `bigram=True` it is the lecture's first model instead: idx (B, T) → a (V, V) table's rows
→ logits (B, T, V); each token alone predicts the next (its only point is `logits`).
`norm="none"` also drops ln_f.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from attnlab.config import GPTConfig
from attnlab.generate import generate
from attnlab.model.components import make_block, make_norm, make_position
from attnlab.model.init import initialise
from attnlab.model.kv_cache import KVCache
from attnlab.model.points import Points
from attnlab.errors import UserError


class GPT(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        c = config
        if c.bigram:
            # the lecture's first model: token t's row of a (V, V) table is the next token's logits
            self.token_embedding_table = nn.Embedding(c.vocab_size, c.vocab_size)
            self.blocks = nn.ModuleList()
            self.points = Points("logits")
            initialise(self, c.init)
            return
        self.token_embedding_table = nn.Embedding(c.vocab_size, c.d_model)
        self.position_embedding_table = make_position(c.position, c.max_seq_len, c.d_model)  # learned or fixed
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList([
            make_block(c.d_model, c.n_heads, d_ff=c.d_ff, activation=c.activation, norm=c.norm, causal=True,
                       dropout=c.dropout, bias=c.bias, qkv_bias=c.qkv_bias, layer_norm_eps=c.layer_norm_eps,
                       ffn=c.ffn, residual=c.residual, attn_proj=c.attn_proj)
            for _ in range(c.n_layers)
        ])
        # pre-LN needs a final LayerNorm (the last residual stream is un-normalised); post-LN
        # blocks already end in one, so there ln_f is one more, as in seed 001's code.
        self.ln_f = make_norm(c.norm, c.d_model, c.layer_norm_eps, c.bias)  # norm="none": identity
        self.lm_head = nn.Linear(c.d_model, c.vocab_size, bias=c.lm_head_bias)
        if c.tie_weights:
            self.lm_head.weight = self.token_embedding_table.weight
        self.points = Points("embed", "ln_f", "logits")
        initialise(self, c.init)

    def num_parameters(self, non_embedding: bool = False) -> int:
        """Parameters counted once (a tied lm_head is the embedding); `non_embedding` leaves
        out the position embedding (and the token embedding, unless it is also the lm_head)."""
        n = sum(p.numel() for p in self.parameters())  # .parameters() yields a tied tensor once
        if non_embedding and not self.config.bigram:
            n -= sum(p.numel() for p in self.position_embedding_table.parameters())  # none if fixed
        return n

    def forward(
        self,
        idx: torch.Tensor,
        targets: torch.Tensor | None = None,
        kv_caches: list[KVCache] | None = None,
        last_only: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """idx (B, T) token ids -> (logits (B, T, V), loss or None).

        With `kv_caches` (one per block, from `make_kv_caches`), idx holds only the new tokens;
        their positions continue from what the caches already hold. `last_only=True` computes
        the logits of the last position only: (B, 1, V) (what a loss on the answer needs); the
        last block then runs its query, feed-forward layer and output at that position alone.
        """
        B, T = idx.shape
        start = 0 if kv_caches is None else kv_caches[0].length
        if start + T > self.config.max_seq_len:
            raise UserError(
                f"sequence of {start + T} tokens is longer than max_seq_len ({self.config.max_seq_len})")
        if self.config.bigram:
            logits = self.points.logits(self.token_embedding_table(idx[:, -1:] if last_only else idx))  # (B, T, V)
        else:
            pos = torch.arange(start, start + T, device=idx.device)  # (T,)
            x = self.token_embedding_table(idx) + self.position_embedding_table(pos)  # (B, T, C)
            x = self.points.embed(self.drop(x))
            last = len(self.blocks) - 1
            for i, block in enumerate(self.blocks):
                # the last block's other positions feed nothing: with last_only it skips them
                x = block(x, kv_cache=None if kv_caches is None else kv_caches[i],
                          last_only=last_only and i == last)  # (B, T, C), or (B, 1, C)
            if last_only:
                x = x[:, -1:]  # (B, 1, C) (already, unless there are no blocks)
            x = self.points.ln_f(self.ln_f(x))
            logits = self.points.logits(self.lm_head(x))  # (B, T, V)
        loss = None
        if targets is not None:
            T = logits.shape[1]  # 1 with last_only: targets (B, 1)
            loss = F.cross_entropy(logits.reshape(B * T, -1).float(), targets.reshape(B * T), ignore_index=-1)
        return logits, loss

    def make_kv_caches(self, batch_size: int, max_len: int | None = None) -> list[KVCache]:
        """One empty (B, H, max_len, D) cache per block, on the model's device and dtype."""
        c = self.config
        w = self.token_embedding_table.weight
        max_len = c.max_seq_len if max_len is None else min(max_len, c.max_seq_len)
        return [KVCache(batch_size, c.n_heads, max_len, c.d_head, device=w.device, dtype=w.dtype)
                for _ in range(c.n_layers)]

    @torch.inference_mode()
    def generate(self, idx: torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
                 top_k: int | None = None, top_p: float | None = None,
                 generator: torch.Generator | None = None, use_cache: bool = True) -> torch.Tensor:
        """Extend idx (B, T) by max_new_tokens sampled tokens -> (B, T + max_new_tokens): the
        module-level `attnlab.generate` (sampling rules, KV cache, sliding window), on this model."""
        return generate(self, idx, max_new_tokens, temperature=temperature, top_k=top_k, top_p=top_p,
                        generator=generator, use_cache=use_cache)


def is_gpt(model: nn.Module) -> bool:
    """Whether `model` is a GPT with blocks: its last block's output goes through `ln_f` and
    `lm_head` to next-token logits, so the logit lens, an ablation's loss and sampling apply.

    BertEncoder (MiniLM) and EncoderDecoder are not; nor is a bigram GPT (a (V, V) table, with
    no blocks, ln_f or lm_head).

        >>> is_gpt(GPT(GPTConfig(vocab_size=5, max_seq_len=4, d_model=8, n_heads=2, n_layers=1)))
        True
        >>> is_gpt(GPT(GPTConfig(vocab_size=5, max_seq_len=4, bigram=True)))
        False
    """
    return isinstance(model, GPT) and not model.config.bigram
