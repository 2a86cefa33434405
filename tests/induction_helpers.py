"""What the induction lab's tests share: a short lab, the `--json` contract of one model, and a
tiny attention-only GPT."""

from __future__ import annotations

import torch

from attnlab.config import GPTConfig
from attnlab.model.gpt import GPT

SHORT = dict(steps=4, eval_interval=2, stream_tokens=5000, eval_batch=4, batch_size=4)
CONTRACT = {"layers", "best_induction", "best_previous", "first_copy_loss", "second_copy_loss",
            "ablate_detected", "ablate_random", "formed_at_step"}


def tiny_model(n_layers: int = 2) -> GPT:
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=20, max_seq_len=16, d_model=16, n_heads=2, n_layers=n_layers, ffn=False)).eval()
