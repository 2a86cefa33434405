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

import math
from typing import Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F

from attnlab.config import GPTConfig
from attnlab.generate import generate, generate_tokens
from attnlab.model.block import Block, make_norm
from attnlab.model.decode import decode_step, has_module_hooks, vocab_slices
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
            self._initialise()
            return
        self.token_embedding_table = nn.Embedding(c.vocab_size, c.d_model)
        self.position_embedding_table = nn.Embedding(c.max_seq_len, c.d_model)
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList([
            Block(c.d_model, c.n_heads, d_ff=c.d_ff, activation=c.activation, norm=c.norm, causal=True,
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
        self._initialise()
        self._every_point = [point for module in self.modules() if isinstance(getattr(module, "points", None), Points)
                             for _, point in module.points.items()]
        self._every_module = list(self.modules())  # for _plain_decoding's look for PyTorch hooks
        self._head: tuple[tuple[int, int, int], torch.Tensor] | None = None  # decode_head's copy, and of what

    def _initialise(self) -> None:
        """init="gpt2": GPT-2's N(0, 0.02), zero biases, and residual projections scaled so the
        residual stream's variance does not grow with depth (two residual additions per block).
        init="torch": every module keeps PyTorch's own initialisation, as in the lecture.
        init="lecun": every weight N(0, 1/fan_in) (an embedding's fan-in is d_model), zero biases:
        the scale of Nanda et al.'s grokking model."""
        if self.config.init == "torch":
            return
        if self.config.init == "lecun":
            self.apply(self._init_lecun)
            return
        self.apply(self._init_weights)
        for block in self.blocks:
            for proj in (block.attn.proj, getattr(block.ffwd, "down", None)):
                if isinstance(proj, nn.Linear):  # not W_O when attn_proj=False, nor an absent ffwd
                    nn.init.normal_(proj.weight, mean=0.0, std=0.02 / math.sqrt(2 * self.config.n_layers))

    @staticmethod
    def _init_lecun(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=module.in_features ** -0.5)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=module.embedding_dim ** -0.5)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def num_parameters(self, non_embedding: bool = False) -> int:
        """Parameters counted once (a tied lm_head is the embedding); `non_embedding` leaves
        out the position embedding (and the token embedding, unless it is also the lm_head)."""
        n = sum(p.numel() for p in self.parameters())  # .parameters() yields a tied tensor once
        if non_embedding and not self.config.bigram:
            n -= self.position_embedding_table.weight.numel()
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
        if T == 1 and kv_caches is not None and targets is None and self._plain_decoding():
            return decode_step(self, idx, kv_caches, self.decode_head()), None  # (B, 1, V): model/decode.py
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

    def _plain_decoding(self) -> bool:
        """Whether a one-token step may take `decode_step`: eval mode, nothing attached to any
        point or PyTorch module hook, every attention on its fast path (what the modules would
        compute, tested equal). The points and modules are those the model was built with."""
        return (not self.training and not self.config.bigram and not any(p.fns for p in self._every_point)
                and not has_module_hooks(self._every_module)
                and all(block.attn.use_sdpa for block in self.blocks))

    def decode_head(self) -> torch.Tensor:
        """The lm_head weight as one slice of the vocabulary per torch thread on a CPU (one slice
        on a GPU), (P, C, V/P), for one-position logits (`decode.vocab_slices`): kept until the
        weight changes (an optimizer step or a load bumps its version) or the thread count does."""
        w = self.lm_head.weight
        key = (w.data_ptr(), w._version, torch.get_num_threads() if w.device.type == "cpu" else 1)
        if self._head is None or self._head[0] != key:
            with torch.no_grad():
                self._head = (key, vocab_slices(w, key[2]))  # (P, C, V/P)
        return self._head[1]

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
        """Extend idx (B, T) by max_new_tokens sampled tokens -> (B, T + max_new_tokens).
        See `attnlab.generate.generate_tokens` for the sampling rules and the sliding window."""
        # attnlab.generate's function (a module-level name), not this method
        return generate(self, idx, max_new_tokens, temperature=temperature, top_k=top_k, top_p=top_p,
                        generator=generator, use_cache=use_cache)

    def generate_stream(self, idx: torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
                        top_k: int | None = None, top_p: float | None = None,
                        generator: torch.Generator | None = None,
                        use_cache: bool = True) -> Iterator[torch.Tensor]:
        """Like `generate`, but yields each new (B, 1) token as soon as it is sampled."""
        return generate_tokens(self, idx, max_new_tokens, temperature=temperature, top_k=top_k, top_p=top_p,
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
