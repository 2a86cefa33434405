"""Helpers shared by the record/intervene tests (imported, not a pytest conftest)."""

from __future__ import annotations

import torch

from attnlab.config import GPTConfig
from attnlab.model.gpt import GPT
from attnlab.model.points import named_points

# The points of one GPT block, in forward order (pre-LN).
BLOCK_POINTS = ["ln1", "attn.q", "attn.k", "attn.v", "attn.scores", "attn.weights", "attn.z", "attn.out",
                "resid_mid", "ln2", "ffwd.hidden", "ffwd.out", "out"]


def randomise_norms_and_biases(model: torch.nn.Module) -> None:
    """Random LayerNorms and biases, so that a misplaced one shows in a comparison."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "ln" in name or "norm" in name or name.endswith("bias"):
                p.add_(0.1 * torch.randn_like(p))


def tiny_gpt(norm: str = "pre", dropout: float = 0.0, seed: int = 0) -> GPT:
    """2 layers, 3 heads of 8, width 24, d_ff 40, vocab 19, 16 positions; in eval mode."""
    torch.manual_seed(seed)
    model = GPT(GPTConfig(vocab_size=19, max_seq_len=16, d_model=24, n_heads=3, n_layers=2, d_ff=40, norm=norm,
                          dropout=dropout))
    randomise_norms_and_biases(model)
    return model.eval()


def nothing_attached(model: torch.nn.Module) -> bool:
    return not any(p.active for p in named_points(model).values())
