"""The encoder-decoder transformer (seed 002), built from attnlab's own parts.

    src (B, S) → embed·√C + PE → encoder: [self-attention + FFN] × n → ln_f → memory (B, S, C)
    tgt (B, T) → embed·√C + PE → decoder: [causal self-attention
                                           + cross-attention (queries from tgt, keys/values
                                             from memory) + FFN] × n → ln_f → head → (B, T, V)

The encoder block is the GPT `Block` with `causal=False`. The decoder block adds a second
attention, `cross_attn`: the same `MultiHeadAttention`, called with `memory=`, which is how
each target step looks back at the source. Captured attention has stable names:
`encoder.blocks.{i}.attn`, `decoder.blocks.{i}.self_attn`, `decoder.blocks.{i}.cross_attn`.

Named points (`attnlab.record`): `encoder.embed` (B, S, C) and `decoder.embed` (B, T, C), the
stacks' inputs (embedding·√C + PE); `encoder.blocks.{i}.…` as in a GPT block;
`decoder.blocks.{i}.` ln1, self_attn.*, resid_self, ln2, cross_attn.*, resid_mid, ln3, ffwd.*,
out (see `DecoderBlock`); `encoder.ln_f` (the memory), `decoder.ln_f`, and `logits` (the head's
output: (B, T, V), or (B, T, 1) values in continuous mode).

With the weights copied (`copy_from_torch_transformer`), `Encoder` + `Decoder` compute exactly
what `torch.nn.Transformer(batch_first=True)` computes, post-LN or pre-LN (norm_first=True),
final LayerNorms included (tests/labs/test_seq2seq.py).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from attnlab.config import Seq2SeqConfig
from attnlab.model import seq2seq_search
from attnlab.model.attention import MultiHeadAttention
from attnlab.model.block import residual
from attnlab.model.components import check_norm, make_activation, make_block
from attnlab.model.embeddings import SinusoidalPositionalEncoding
from attnlab.model.feedforward import FeedForward
from attnlab.model.points import Points
from attnlab.errors import UserError


class DecoderBlock(nn.Module):
    """Causal self-attention, cross-attention to memory, feed-forward; each with a residual.

    pre-LN:  x = x + self_attn(ln1(x));  x = x + cross_attn(ln2(x), memory);  x = x + ffwd(ln3(x))
    post-LN: x = ln1(x + self_attn(x));  x = ln2(x + cross_attn(x, memory));  x = ln3(x + ffwd(x))

    Named points: ln1, ln2, ln3 (each LayerNorm's output, placed as in `Block`), resid_self
    (x + self_attn.out), resid_mid (the sum after cross-attention, the stream the FFN reads),
    out (the block's output).
    """

    def __init__(self, d_model: int, n_heads: int, d_ff: int | None = None, activation: str = "relu",
                 norm: str = "post", dropout: float = 0.0, layer_norm_eps: float = 1e-5):
        super().__init__()
        self.norm = check_norm(norm, ("pre", "post"))
        self.pre_norm = norm == "pre"
        self.ln1 = nn.LayerNorm(d_model, eps=layer_norm_eps)
        self.self_attn = MultiHeadAttention(d_model, n_heads, causal=True, dropout=dropout)
        self.ln2 = nn.LayerNorm(d_model, eps=layer_norm_eps)
        self.cross_attn = MultiHeadAttention(d_model, n_heads, causal=False, dropout=dropout)
        self.ln3 = nn.LayerNorm(d_model, eps=layer_norm_eps)
        self.ffwd = FeedForward(d_model, d_ff, act=make_activation(activation), dropout=dropout)
        self.drop = nn.Dropout(dropout)
        self.points = Points("ln1", "resid_self", "ln2", "resid_mid", "ln3", "out")

    def forward(self, x: torch.Tensor, memory: torch.Tensor, tgt_key_padding_mask: torch.Tensor | None = None,
                memory_key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, T, C), memory (B, S, C) -> (B, T, C)."""
        def self_attn(h: torch.Tensor) -> torch.Tensor:
            return self.drop(self.self_attn(h, key_padding_mask=tgt_key_padding_mask))

        def cross_attn(h: torch.Tensor) -> torch.Tensor:
            return self.drop(self.cross_attn(h, memory=memory, key_padding_mask=memory_key_padding_mask))

        p = self.points
        x = residual(x, self_attn, self.ln1, p.ln1, p.resid_self, self.pre_norm)
        x = residual(x, cross_attn, self.ln2, p.ln2, p.resid_mid, self.pre_norm)
        x = residual(x, self.ffwd, self.ln3, p.ln3, None, self.pre_norm)
        return p.out(x)  # (B, T, C)


class Encoder(nn.Module):
    """A stack of non-causal `Block`s and a final LayerNorm (as nn.TransformerEncoder's `norm`)."""

    def __init__(self, n_layers: int, d_model: int, n_heads: int, d_ff: int | None = None,
                 activation: str = "relu", norm: str = "post", dropout: float = 0.0, layer_norm_eps: float = 1e-5):
        super().__init__()
        self.blocks = nn.ModuleList([
            make_block(d_model, n_heads, d_ff=d_ff, activation=activation, norm=norm, causal=False, dropout=dropout,
                       layer_norm_eps=layer_norm_eps)
            for _ in range(n_layers)
        ])
        self.ln_f = nn.LayerNorm(d_model, eps=layer_norm_eps)
        self.points = Points("embed", "ln_f")

    def forward(self, x: torch.Tensor, key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        x = self.points.embed(x)
        for block in self.blocks:
            x = block(x, key_padding_mask=key_padding_mask)  # (B, S, C)
        return self.points.ln_f(self.ln_f(x))  # (B, S, C): the memory the decoder attends to


class Decoder(nn.Module):
    """A stack of `DecoderBlock`s and a final LayerNorm (as nn.TransformerDecoder's `norm`)."""

    def __init__(self, n_layers: int, d_model: int, n_heads: int, d_ff: int | None = None,
                 activation: str = "relu", norm: str = "post", dropout: float = 0.0, layer_norm_eps: float = 1e-5):
        super().__init__()
        self.blocks = nn.ModuleList([
            DecoderBlock(d_model, n_heads, d_ff=d_ff, activation=activation, norm=norm, dropout=dropout,
                         layer_norm_eps=layer_norm_eps)
            for _ in range(n_layers)
        ])
        self.ln_f = nn.LayerNorm(d_model, eps=layer_norm_eps)
        self.points = Points("embed", "ln_f")

    def forward(self, x: torch.Tensor, memory: torch.Tensor, tgt_key_padding_mask: torch.Tensor | None = None,
                memory_key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        x = self.points.embed(x)
        for block in self.blocks:
            x = block(x, memory, tgt_key_padding_mask, memory_key_padding_mask)  # (B, T, C)
        return self.points.ln_f(self.ln_f(x))  # (B, T, C)


class EncoderDecoder(nn.Module):
    """Seed 002's `TransformerModel`, with attnlab's encoder and decoder in place of nn.Transformer.

    Token mode (vocab sizes > 0): src (B, S) and tgt (B, T) ids -> logits (B, T, V_tgt).
    Continuous mode (vocab sizes 0, seed 002): src (B, S, 1) and tgt (B, T, 1) values; one
    shared `embed = Linear(1, C)` for both, `head = Linear(C, 1)` -> predictions (B, T, 1).
    Padding masks are (B, S) / (B, T) booleans, True at padding (PyTorch's convention).
    """

    def __init__(self, config: Seq2SeqConfig):
        super().__init__()
        self.config = c = config
        if c.continuous:
            self.embed = nn.Linear(1, c.d_model)  # seed 002's input_embedding, used for src and tgt
        else:
            self.src_embed = nn.Embedding(c.src_vocab_size, c.d_model)
            self.tgt_embed = nn.Embedding(c.tgt_vocab_size, c.d_model)
        self.pos = SinusoidalPositionalEncoding(c.d_model, c.max_seq_len)
        kw = dict(d_model=c.d_model, n_heads=c.n_heads, d_ff=c.d_ff, activation=c.activation, norm=c.norm,
                  dropout=c.dropout, layer_norm_eps=c.layer_norm_eps)
        self.encoder = Encoder(c.n_encoder_layers, **kw)
        self.decoder = Decoder(c.n_decoder_layers, **kw)
        self.head = nn.Linear(c.d_model, 1 if c.continuous else c.tgt_vocab_size)
        self.points = Points("logits")
        # nn.Transformer._reset_parameters: Xavier-uniform on every matrix of the stacks; token
        # tables too (as the annotated transformer does), so embed·√C starts near PE's scale.
        matrices = [*self.encoder.parameters(), *self.decoder.parameters()]
        if not c.continuous:
            matrices += [self.src_embed.weight, self.tgt_embed.weight]
        for p in matrices:
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    def _embed(self, x: torch.Tensor, table: nn.Module) -> torch.Tensor:
        if self.config.continuous:
            if x.dim() != 3 or x.shape[-1] != 1:
                raise UserError(f"continuous inputs must be (B, T, 1) values, got shape {tuple(x.shape)}")
            x = x.float()
        elif x.dim() != 2:
            raise UserError(f"token inputs must be (B, T) ids, got shape {tuple(x.shape)}")
        return self.pos(table(x) * math.sqrt(self.config.d_model))  # (B, T, C)

    def encode(self, src: torch.Tensor, src_key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """src (B, S) ids or (B, S, 1) values -> memory (B, S, C)."""
        table = self.embed if self.config.continuous else self.src_embed
        return self.encoder(self._embed(src, table), key_padding_mask=src_key_padding_mask)

    def decode(self, tgt: torch.Tensor, memory: torch.Tensor, tgt_key_padding_mask: torch.Tensor | None = None,
               memory_key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """tgt (B, T) ids or (B, T, 1) values, memory (B, S, C) -> logits (B, T, V) or values (B, T, 1)."""
        table = self.embed if self.config.continuous else self.tgt_embed
        x = self.decoder(self._embed(tgt, table), memory, tgt_key_padding_mask, memory_key_padding_mask)
        return self.points.logits(self.head(x))  # (B, T, V) or (B, T, 1)

    def forward(self, src: torch.Tensor, tgt: torch.Tensor, targets: torch.Tensor | None = None,
                src_key_padding_mask: torch.Tensor | None = None,
                tgt_key_padding_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Teacher forcing: tgt is the target shifted right (start symbol first) -> (out, loss or None).

        Loss: cross-entropy over targets (B, T) with -1 ignored (padding), or MSE on values.
        """
        memory = self.encode(src, src_key_padding_mask)  # (B, S, C)
        out = self.decode(tgt, memory, tgt_key_padding_mask, src_key_padding_mask)  # (B, T, V)
        loss = None
        if targets is not None:
            if self.config.continuous:
                loss = F.mse_loss(out, targets.float())
            else:
                loss = F.cross_entropy(out.flatten(0, 1), targets.flatten(), ignore_index=-1)
        return out, loss

    def greedy_decode(self, src: torch.Tensor, start: int | float, max_len: int, eos: int | None = None,
                      src_key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Autoregressive decoding, feeding back each prediction -> (B, max_len) ids or (B, max_len, 1)."""
        return seq2seq_search.greedy_decode(self, src, start, max_len, eos=eos,
                                            src_key_padding_mask=src_key_padding_mask)

    def beam_search(self, src: torch.Tensor, start: int, max_len: int, beam_width: int = 4, eos: int | None = None,
                    src_key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """The most probable sequence among `beam_width` kept hypotheses -> (B, max_len) ids."""
        return seq2seq_search.beam_search(self, src, start, max_len, beam_width=beam_width, eos=eos,
                                          src_key_padding_mask=src_key_padding_mask)


def copy_from_torch_transformer(encoder: Encoder, decoder: Decoder, transformer: nn.Transformer) -> None:
    """Copy `torch.nn.Transformer`'s weights into our encoder and decoder: one explicit key table.

    PyTorch's in_proj_weight is W_Q, W_K, W_V stacked, the same layout as our `qkv`.
    """
    table: dict[str, str] = {"encoder.ln_f": "encoder.norm", "decoder.ln_f": "decoder.norm"}
    per_layer = {
        "encoder": {"attn.qkv.weight": "self_attn.in_proj_weight", "attn.qkv.bias": "self_attn.in_proj_bias",
                    "attn.proj": "self_attn.out_proj", "ffwd.up": "linear1", "ffwd.down": "linear2",
                    "ln1": "norm1", "ln2": "norm2"},
        "decoder": {"self_attn.qkv.weight": "self_attn.in_proj_weight",
                    "self_attn.qkv.bias": "self_attn.in_proj_bias", "self_attn.proj": "self_attn.out_proj",
                    "cross_attn.qkv.weight": "multihead_attn.in_proj_weight",
                    "cross_attn.qkv.bias": "multihead_attn.in_proj_bias",
                    "cross_attn.proj": "multihead_attn.out_proj", "ffwd.up": "linear1", "ffwd.down": "linear2",
                    "ln1": "norm1", "ln2": "norm2", "ln3": "norm3"},
    }
    for stack, ours in (("encoder", encoder), ("decoder", decoder)):
        for i in range(len(ours.blocks)):
            for mine, theirs in per_layer[stack].items():
                table[f"{stack}.blocks.{i}.{mine}"] = f"{stack}.layers.{i}.{theirs}"
    # a module name stands for its .weight and .bias
    table = {f"{m}{s}": f"{t}{s}" for m, t in table.items()
             for s in ([""] if m.endswith(("weight", "bias")) else [".weight", ".bias"])}
    theirs = transformer.state_dict()
    ours = {f"encoder.{k}": v for k, v in encoder.state_dict().items()}
    ours |= {f"decoder.{k}": v for k, v in decoder.state_dict().items()}
    if set(table) != set(ours) or set(table.values()) != set(theirs):
        raise UserError(f"key table covers {len(table)} tensors; ours have {len(ours)}, "
                         f"nn.Transformer has {len(theirs)} (different numbers of layers?)")
    with torch.no_grad():
        for mine, source in table.items():
            if ours[mine].shape != theirs[source].shape:
                raise UserError(f"{source} {tuple(theirs[source].shape)} does not fit "
                                 f"{mine} {tuple(ours[mine].shape)}")
            ours[mine].copy_(theirs[source])
