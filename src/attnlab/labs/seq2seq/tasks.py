"""Sequence-to-sequence tasks: seed 002's +2 regression, and token tasks with a held-out split.

Token tasks map a sequence of values 0..vocab-1 (length min_len..max_len) to another:
    copy     [3, 1, 4] -> [3, 1, 4]        reverse  [3, 1, 4] -> [4, 1, 3]
    sort     [3, 1, 4] -> [1, 3, 4]        plus2    [3, 1, 4] -> [5, 3, 6]
Token ids: 0 = PAD, 1 = BOS (the decoder's start symbol), 2 = EOS, value v = v + 3.
    src    = [v..., PAD...]                     (B, max_len)
    tgt_in = [BOS, y..., PAD...]                (B, max_len + 1)  the target shifted right
    labels = [y..., EOS, -1...]                 (B, max_len + 1)  -1 is ignored by the loss

The held-out split is a fixed function of the sequence (a hash), not of a seed: about one
sequence in `held_out_every` is held out, training batches never contain one, and the
exact-match accuracy is measured on them only, so it measures generalisation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple

import torch
import torch.nn as nn

from attnlab.errors import UserError
from attnlab.labs.seq2seq.settings import check_token_task
from attnlab.look.capture import capture_attention

PAD, BOS, EOS = 0, 1, 2
N_SPECIAL = 3


class Seq2SeqBatch(NamedTuple):
    src: torch.Tensor  # (B, S) ids
    src_pad: torch.Tensor  # (B, S) True at padding
    tgt_in: torch.Tensor  # (B, T) BOS + target, the decoder's input
    tgt_pad: torch.Tensor  # (B, T)
    labels: torch.Tensor  # (B, T) target + EOS, -1 at padding
    lengths: torch.Tensor  # (B,) source lengths (= target lengths for these tasks)


@dataclass(frozen=True)
class TokenTask:
    name: str
    vocab: int = 10  # values 0..vocab-1
    min_len: int = 1
    max_len: int = 10
    held_out_every: int = 10

    def __post_init__(self) -> None:
        check_token_task(self.name, self.vocab, self.min_len, self.max_len)
        if self.held_out_every < 2:
            raise UserError(f"held_out_every must be >= 2, got {self.held_out_every}")

    @property
    def src_vocab_size(self) -> int:
        return self.vocab + N_SPECIAL

    @property
    def tgt_vocab_size(self) -> int:
        return self.vocab + N_SPECIAL + (2 if self.name == "plus2" else 0)  # plus2 outputs reach vocab+1

    def transform(self, values: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The task's rule on (B, L) values whose entries at or past `lengths` are padding."""
        B, L = values.shape
        real = torch.arange(L).unsqueeze(0) < lengths.unsqueeze(1)  # (B, L)
        if self.name == "copy":
            return values.clone()
        if self.name == "plus2":
            return values + 2
        if self.name == "reverse":
            idx = (lengths.unsqueeze(1) - 1 - torch.arange(L).unsqueeze(0)).clamp(min=0)  # (B, L)
            return values.gather(1, idx).masked_fill(~real, 0)
        big = values.masked_fill(~real, self.vocab + 10)  # sort: padding sorts last
        return big.sort(dim=1).values.masked_fill(~real, 0)

    def is_held_out(self, values: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B,) True for sequences in the held-out split: a polynomial hash of (values, length)."""
        M = 1_000_000_007
        h = torch.zeros(values.shape[0], dtype=torch.long)
        for i in range(values.shape[1]):
            h = torch.where(i < lengths, (h * 131 + values[:, i] + 1) % M, h)
        h = (h * 131 + lengths) % M
        h = (h * 2_654_435_761) % (1 << 31)  # mix, so the low digits depend on every value
        return (h >> 8) % self.held_out_every == 0

    def sample(self, n: int, generator: torch.Generator, held_out: bool) -> Seq2SeqBatch:
        """n random sequences from the training split (held_out=False) or the held-out split."""
        chunks_v, chunks_l, have = [], [], 0
        while have < n:
            m = max(64, 2 * (n - have) * (self.held_out_every if held_out else 1))
            lengths = torch.randint(self.min_len, self.max_len + 1, (m,), generator=generator)
            values = torch.randint(0, self.vocab, (m, self.max_len), generator=generator)
            values = values.masked_fill(torch.arange(self.max_len).unsqueeze(0) >= lengths.unsqueeze(1), 0)
            keep = self.is_held_out(values, lengths) == held_out
            chunks_v.append(values[keep])
            chunks_l.append(lengths[keep])
            have += int(keep.sum())
        return self.encode(torch.cat(chunks_v)[:n], torch.cat(chunks_l)[:n])

    def encode(self, values: torch.Tensor, lengths: torch.Tensor) -> Seq2SeqBatch:
        """(B, L) values + (B,) lengths -> the model's tensors (see the module docstring)."""
        B, L = values.shape
        real = torch.arange(L).unsqueeze(0) < lengths.unsqueeze(1)  # (B, L)
        src = (values + N_SPECIAL).masked_fill(~real, PAD)  # (B, L)
        y = (self.transform(values, lengths) + N_SPECIAL).masked_fill(~real, PAD)  # (B, L)
        tgt_in = torch.cat([torch.full((B, 1), BOS), y], dim=1)  # (B, L + 1)
        labels = torch.cat([y, torch.full((B, 1), PAD)], dim=1)  # (B, L + 1)
        labels[torch.arange(B), lengths] = EOS
        labels = labels.masked_fill(labels == PAD, -1)
        return Seq2SeqBatch(src, src == PAD, tgt_in, tgt_in == PAD, labels, lengths)

    def decode_values(self, ids: list[int]) -> list[int]:
        """Token ids up to the first EOS (or special token) -> values."""
        out = []
        for t in ids:
            if t < N_SPECIAL:
                break
            out.append(t - N_SPECIAL)
        return out


@torch.no_grad()
def exact_match(model: nn.Module, batch: Seq2SeqBatch, beam_width: int = 1) -> tuple[float, torch.Tensor]:
    """Fraction of sequences decoded entirely right (every token and the EOS), without teacher
    forcing -> (accuracy, predictions (B, T))."""
    T = batch.labels.shape[1]
    if beam_width == 1:
        pred = model.greedy_decode(batch.src, BOS, T, eos=EOS, src_key_padding_mask=batch.src_pad)
    else:
        pred = model.beam_search(batch.src, BOS, T, beam_width=beam_width, eos=EOS,
                                 src_key_padding_mask=batch.src_pad)
    ok = ((pred == batch.labels) | (batch.labels == -1)).all(dim=1)  # (B,)
    return ok.float().mean().item(), pred


def capture_cross_attention(model: nn.Module, fn: Callable[[], object]) -> tuple[object, dict[str, torch.Tensor]]:
    """Run fn() under `attnlab.capture_attention` -> (fn's result, the cross-attention maps only:
    {"decoder.blocks.i.cross_attn": weights (B, H, T, S)}). Hooks are removed on exit."""
    with capture_attention(model) as maps:
        result = fn()
    return result, {name: w.cpu() for name, w in maps.items() if name.endswith("cross_attn")}


class CrossAttention(NamedTuple):
    """The cross-attention of a batch, teacher-forced, and how diagonal it is."""

    weights: dict[str, torch.Tensor]  # "decoder.blocks.{i}.cross_attn" -> (n, H, T, S), on the CPU
    mass: dict[str, torch.Tensor]  # the same names -> (H,) (anti-)diagonal mass; empty when not measured
    uniform: float  # the mass uniform attention would have: the mean of 1 / length
    longest: int  # the example with the longest source (it shows the pattern best)


def cross_attention_alignment(model: nn.Module, batch: Seq2SeqBatch, anti: bool | None,
                              n: int = 200) -> CrossAttention:
    """Cross-attention maps of the first `n` examples of `batch` (teacher-forced) and each head's
    diagonal mass: the diagonal, the anti-diagonal if `anti`, none if `anti` is None (a task such
    as sort has no fixed source position per step)."""
    n = min(n, batch.src.shape[0])
    pad = lambda m: None if m is None else m[:n]  # noqa: E731
    _, weights = capture_cross_attention(model, lambda: model(
        batch.src[:n], batch.tgt_in[:n], src_key_padding_mask=pad(batch.src_pad),
        tgt_key_padding_mask=pad(batch.tgt_pad)))
    lengths = batch.lengths[:n]
    mass = {} if anti is None else {name: diagonal_mass(w, lengths, anti=anti) for name, w in weights.items()}
    return CrossAttention(weights, mass, float((1 / lengths.float()).mean()), int(lengths.argmax()))


def diagonal_mass(weights: torch.Tensor, lengths: torch.Tensor, anti: bool = False) -> torch.Tensor:
    """How much target step i attends to source position i (anti: to L-1-i), per head.

    weights (B, H, T, S) cross-attention, lengths (B,) -> (H,): the mean over sequences and over
    their steps i < L of weights[b, h, i, j(i)]. 1.0 means the head reads exactly the aligned
    source token; 1/L is what uniform attention would give.
    """
    B, H, T, S = weights.shape
    i = torch.arange(min(T, S))
    total, count = torch.zeros(H), 0
    for b in range(B):
        L = int(lengths[b])
        steps = i[:L]
        j = (L - 1 - steps) if anti else steps
        total += weights[b, :, steps, j].sum(dim=-1)  # (H,)
        count += L
    return total / max(count, 1)


def plus2_regression_data() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Seed 002's data: src [10..50], decoder input shifted right with 0 as start, target +2.
    Each is (1, 5, 1)."""
    src = torch.tensor([[[10.0], [20.0], [30.0], [40.0], [50.0]]])
    tgt = torch.tensor([[[0.0], [12.0], [22.0], [32.0], [42.0]]])
    target = torch.tensor([[[12.0], [22.0], [32.0], [42.0], [52.0]]])
    return src, tgt, target
