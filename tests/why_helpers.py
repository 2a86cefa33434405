"""The tiny character GPT the why/ tests share: weights larger than GPT-2's, so every head matters."""

import torch

from attnlab.config import GPTConfig
from attnlab.model.gpt import GPT
from attnlab.tokenizers.char import CharTokenizer

TOK = CharTokenizer.train("abcdefgh ")


def tiny_gpt(norm: str = "pre", seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    model = GPT(GPTConfig(vocab_size=TOK.vocab_size, max_seq_len=16, d_model=16, n_heads=2, n_layers=3,
                          norm=norm, dropout=0.1))
    for p in model.parameters():  # larger than GPT-2's init, so that every head matters
        p.data.normal_(0, 0.3)
    return model.train()  # the tools must switch to eval (no dropout) and back


CLEAN = "First Citizen: h"  # 16 characters: the tiny run's block size (tests/why/conftest.py's run_dir)
CORRUPT = "All:    Speak, s"
