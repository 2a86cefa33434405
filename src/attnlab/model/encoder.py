"""A BERT-style encoder built from our own blocks (all-MiniLM-L6-v2's shape by default).

    ids (B, T) → word + position + token-type embeddings → LayerNorm → (B, T, C)
               → post-LN blocks (seed 003: x = LayerNorm(x + attn(x)), GELU, not causal) × n_layers
               → hidden states (B, T, C) → mean over real tokens → L2-normalise → sentence embedding

Named points: `embed` (B, T, C), the first block's input (after the embedding LayerNorm), and
`blocks.{i}.…` as in block.py (post-LN placement). The real weights are loaded by
`attnlab.load_minilm()` (attnlab/minilm.py) through the key table in interop/bert.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from attnlab.model.components import make_block
from attnlab.model.points import Points
from attnlab.errors import UserError


@dataclass
class BertEncoderConfig:
    """BERT's shape; the defaults are all-MiniLM-L6-v2's."""

    vocab_size: int = 30522
    max_seq_len: int = 512
    type_vocab_size: int = 2
    d_model: int = 384
    n_heads: int = 12
    n_layers: int = 6
    d_ff: int = 1536
    layer_norm_eps: float = 1e-12


class BertEncoder(nn.Module):
    """Bidirectional transformer encoder: ids (B, T) -> hidden states (B, T, C)."""

    def __init__(self, config: BertEncoderConfig):
        super().__init__()
        c = self.config = config
        self.word_embeddings = nn.Embedding(c.vocab_size, c.d_model)
        self.position_embeddings = nn.Embedding(c.max_seq_len, c.d_model)
        self.token_type_embeddings = nn.Embedding(c.type_vocab_size, c.d_model)  # sentence A / B
        self.embed_norm = nn.LayerNorm(c.d_model, eps=c.layer_norm_eps)
        self.blocks = nn.ModuleList([
            make_block(c.d_model, c.n_heads, d_ff=c.d_ff, activation="gelu", norm="post", causal=False,
                       layer_norm_eps=c.layer_norm_eps)
            for _ in range(c.n_layers)
        ])
        self.points = Points("embed")

    def embed(self, idx: torch.Tensor, token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        """ids (B, T) -> the first block's input (B, T, C)."""
        B, T = idx.shape
        if T > self.config.max_seq_len:
            raise UserError(f"sequence of {T} tokens is longer than max_seq_len ({self.config.max_seq_len})")
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(idx)
        pos = torch.arange(T, device=idx.device)  # (T,)
        x = self.word_embeddings(idx) + self.position_embeddings(pos) + self.token_type_embeddings(token_type_ids)
        return self.points.embed(self.embed_norm(x))  # (B, T, C)

    def hidden_states(self, idx: torch.Tensor, token_type_ids: torch.Tensor | None = None,
                      key_padding_mask: torch.Tensor | None = None) -> list[torch.Tensor]:
        """The embeddings and every block's output: n_layers + 1 tensors (B, T, C), as HF's
        `output_hidden_states`. key_padding_mask (B, T): True where the token is padding."""
        states = [self.embed(idx, token_type_ids)]
        for block in self.blocks:
            states.append(block(states[-1], key_padding_mask=key_padding_mask))  # (B, T, C)
        return states

    def forward(self, idx: torch.Tensor, token_type_ids: torch.Tensor | None = None,
                key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.hidden_states(idx, token_type_ids, key_padding_mask)[-1]  # (B, T, C)


def mean_pool(hidden: torch.Tensor, key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Average over the real (non-padding) tokens, then L2-normalise: (B, T, C) -> (B, C)."""
    if key_padding_mask is None:
        pooled = hidden.mean(dim=1)
    else:
        keep = (~key_padding_mask).unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
        pooled = (hidden * keep).sum(dim=1) / keep.sum(dim=1).clamp(min=1e-9)  # (B, C)
    return F.normalize(pooled, p=2, dim=-1)
