"""The stand-in for nanoGPT in the benchmarks: a GPT, its training step and its generation loop
written plainly, with nanoGPT's choices for its CPU recipe.

nn.Linear and nn.LayerNorm without biases (nanoGPT's `bias=False`), the exact nn.GELU,
F.scaled_dot_product_attention with is_causal, a tied lm_head, AdamW with weight decay on the 2-D
weights and PyTorch's default (foreach) kernel (nanoGPT asks for the fused one on CUDA only),
gradient clipping at 1.0, eager fp32. No named points, no checks: only what a step needs.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class PlainAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int):
        super().__init__()
        self.n_heads = n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=False)
        self.proj = nn.Linear(d_model, d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)  # 3 x (B, T, C)
        q, k, v = (t.view(B, T, self.n_heads, C // self.n_heads).transpose(1, 2) for t in (q, k, v))  # (B, H, T, D)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, H, T, D)
        return self.proj(y.transpose(1, 2).contiguous().view(B, T, C))  # (B, T, C)


class PlainBlock(nn.Module):
    def __init__(self, d_model: int, n_heads: int):
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model, bias=False)
        self.attn = PlainAttention(d_model, n_heads)
        self.ln2 = nn.LayerNorm(d_model, bias=False)
        self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model, bias=False), nn.GELU(),
                                 nn.Linear(4 * d_model, d_model, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class PlainGPT(nn.Module):
    def __init__(self, vocab_size: int, block_size: int, d_model: int, n_heads: int, n_layers: int):
        super().__init__()
        self.wte = nn.Embedding(vocab_size, d_model)
        self.wpe = nn.Embedding(block_size, d_model)
        self.blocks = nn.ModuleList(PlainBlock(d_model, n_heads) for _ in range(n_layers))
        self.ln_f = nn.LayerNorm(d_model, bias=False)
        self.lm_head = nn.Linear(d_model, vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight
        for p in self.parameters():
            if p.dim() == 2:
                nn.init.normal_(p, std=0.02)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        B, T = idx.shape
        x = self.wte(idx) + self.wpe(torch.arange(T, device=idx.device))  # (B, T, C)
        for block in self.blocks:
            x = block(x)
        if targets is None:  # nanoGPT's inference: the last position's logits only
            return self.lm_head(self.ln_f(x[:, [-1], :])), None  # (B, 1, V)
        logits = self.lm_head(self.ln_f(x))  # (B, T, V)
        return logits, F.cross_entropy(logits.view(B * T, -1), targets.view(B * T))

    @torch.no_grad()
    def generate(self, idx: torch.Tensor, max_new_tokens: int) -> torch.Tensor:
        """nanoGPT's generation loop, greedy (its top_k=1): no KV cache, so every new token runs
        the model on the whole context again, cropped to the last block_size tokens."""
        for _ in range(max_new_tokens):
            logits, _ = self(idx[:, -self.wpe.num_embeddings:])  # (B, 1, V)
            idx = torch.cat([idx, logits[:, -1, :].argmax(dim=-1, keepdim=True)], dim=1)
        return idx


def plain_step(model: nn.Module, learning_rate: float = 1e-3, weight_decay: float = 0.1, betas=(0.9, 0.99),
               grad_clip: float = 1.0):
    """nanoGPT's step for `model` (any module returning (logits, loss)): step(x, y) -> the loss."""
    params = list(model.parameters())
    optimizer = torch.optim.AdamW([{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
                                   {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}],
                                  lr=learning_rate, betas=betas)

    def step(x: torch.Tensor, y: torch.Tensor) -> float:
        _, loss = model(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss.item()

    return step
