"""How much memory a model will need, estimated before anything is allocated.

A config with `n_layers = 1000000` (or a vocabulary of a billion tokens) is cheap to write and
expensive to build: PyTorch allocates the weights first and fails later, after minutes of
swapping. So every command that builds a model checks its estimate against what is free. A GPT's
parameters are counted on the model itself, built on the meta device (shapes, no storage), so
the count cannot drift from the architecture:

    >>> from attnlab.config import GPTConfig
    >>> gpt_parameter_count(GPTConfig(vocab_size=65, max_seq_len=64, d_model=128, n_heads=4, n_layers=4))
    809856
    >>> require_memory(gpt_memory_bytes(GPTConfig(n_layers=1000000)), "this GPT")  # doctest: +SKIP
    attnlab.errors.UserError: this GPT needs 793.2 GB of memory, but 24.1 GB is available on cpu ...

Bytes per value: 4 (fp32; under bf16 autocast the weights and optimizer state stay fp32).
Training keeps, per parameter, the weight, its gradient and AdamW's two moments (16 bytes),
plus the activations saved for the backward pass. The activation figures count the tensors
each layer keeps, (B, T, C)-sized and (B, H, T, T)-sized; they are estimates (a few tens of
percent), meant to refuse the absurd before it is allocated, not to plan to the last byte.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from attnlab.config import GPTConfig, Seq2SeqConfig
from attnlab.errors import UserError

BYTES_PER_VALUE = 4  # fp32
TRAINING_BYTES_PER_PARAMETER = 4 * BYTES_PER_VALUE  # weight, gradient, AdamW exp_avg and exp_avg_sq


def _linear(n_in: int, n_out: int, bias: bool) -> int:
    return n_in * n_out + (n_out if bias else 0)


def _block_parameters(d_model: int, d_ff: int, bias: bool, qkv_bias: bool, n_attention: int = 1,
                      n_norms: int = 2) -> int:
    """One transformer block: n_attention attentions (qkv and W_O), a feed-forward (none when
    d_ff is 0), n_norms LayerNorms."""
    C = d_model
    attention = _linear(C, 3 * C, qkv_bias) + _linear(C, C, bias)
    ffwd = _linear(C, d_ff, bias) + _linear(d_ff, C, bias) if d_ff else 0
    norms = n_norms * (C + (C if bias else 0))
    return n_attention * attention + ffwd + norms


def _skip_init():
    """A torch function mode in which the initialisers (`normal_`, `uniform_`, `zeros_`, ...) do
    nothing: on the meta device they would only cost time (their meta versions load
    the compiler, dynamo: about 1.5 s of CPU at a run's start), and a count needs shapes, not values."""
    from torch.overrides import TorchFunctionMode

    class SkipInit(TorchFunctionMode):
        INIT = {"normal_", "uniform_", "zero_", "zeros_", "ones_", "fill_", "trunc_normal_", "kaiming_uniform_",
                "constant_"}

        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if getattr(func, "__name__", None) in self.INIT:
                return args[0] if args else kwargs["tensor"]
            return func(*args, **kwargs)

    return SkipInit()


def gpt_parameter_count(config: GPTConfig) -> int:
    """Exactly `sum(p.numel() for p in GPT(config).parameters())`, counted on the model itself,
    built on the meta device (shapes without storage: nothing is allocated). Blocks are alike,
    so one is built and counted n_layers times: a million layers cost no more than one.
    """
    import torch  # on use: the CLI imports this module, and `attnlab --help` must not import torch

    from attnlab.model.gpt import GPT

    try:
        with torch.device("meta"), _skip_init():
            model = GPT(dataclasses.replace(config, n_layers=1))
    except RuntimeError:  # a weight with more elements than a tensor can count (d_model 2**30, say)
        raise UserError(f"this GPT needs more than {format_bytes(2 ** 63)} of memory: one of its weights "
                        f"(d_model {config.d_model}, vocab_size {config.vocab_size}) is larger than any "
                        f"tensor can be") from None
    n = sum(p.numel() for p in model.parameters())  # a tied lm_head.weight is counted once
    per_block = sum(p.numel() for p in model.blocks.parameters())  # 0 for a bigram model
    return n + (config.n_layers - 1) * per_block


def seq2seq_parameter_count(config: Seq2SeqConfig) -> int:
    """Exactly `sum(p.numel() for p in EncoderDecoder(config).parameters())`."""
    c = config
    C = c.d_model
    n = c.n_encoder_layers * _block_parameters(C, c.d_ff, True, True)
    n += c.n_decoder_layers * _block_parameters(C, c.d_ff, True, True, n_attention=2, n_norms=3)
    n += 2 * 2 * C  # the encoder's and the decoder's final LayerNorm
    if c.continuous:
        n += _linear(1, C, True) + _linear(C, 1, True)  # embed, head
    else:
        n += (c.src_vocab_size + c.tgt_vocab_size) * C + _linear(C, c.tgt_vocab_size, True)
    return n  # the positional-encoding table is a buffer, counted in seq2seq_memory_bytes


def _block_activations(B: int, T: int, S: int, C: int, F: int, H: int, training: bool) -> int:
    """Values alive for one attention block over T queries and S keys: everything it keeps for
    the backward pass when training (inputs of every Linear, LayerNorm and activation, the
    (B, H, T, S) attention weights), or the few tensors of one forward step when not."""
    if training:
        return B * T * (10 * C + 2 * F) + 2 * B * H * T * S
    return B * T * (6 * C + F) + B * H * T * S


def gpt_memory_bytes(config: GPTConfig, batch_size: int = 1, training: bool = False,
                     seq_len: int | None = None, kv_cache_len: int = 0) -> int:
    """Bytes to hold the model, plus (training) gradients, AdamW state and the activations of a
    batch of batch_size × seq_len tokens (default: max_seq_len), plus the generation cache of
    kv_cache_len positions, (B, H, kv_cache_len, D) keys and values per layer.

    >>> c = GPTConfig(vocab_size=65, max_seq_len=64, d_model=128, n_heads=4, n_layers=4)
    >>> gpt_memory_bytes(c) > 4 * gpt_parameter_count(c)   # weights + one forward's activations
    True
    """
    c = config
    B, T = batch_size, c.max_seq_len if seq_len is None else seq_len
    F = 4 * c.d_model if c.d_ff is None else c.d_ff
    parameters = gpt_parameter_count(c)
    per_block = _block_activations(B, T, T, c.d_model, F, c.n_heads, training)
    logits = B * T * c.vocab_size * (3 if training else 1)  # logits, their float copy and gradient
    if training:
        values = parameters * (TRAINING_BYTES_PER_PARAMETER // BYTES_PER_VALUE)
        values += c.n_layers * per_block + 2 * B * T * c.d_model + logits
    else:
        values = parameters + per_block + logits  # blocks run one after another: one is alive
    values += 2 * c.n_layers * B * kv_cache_len * c.d_model
    return values * BYTES_PER_VALUE


def gpt_look_bytes(config: GPTConfig, batch_size: int, seq_len: int) -> int:
    """Bytes for one forward of batch_size × seq_len tokens that keeps what a look inside
    records: every layer's (B, H, T, T) attention weights and (B, T, C) output, beside the
    model and its working tensors (shapes, heads --detect, ablate, lens).

    >>> c = GPTConfig(vocab_size=65, max_seq_len=64, d_model=128, n_heads=4, n_layers=4)
    >>> gpt_look_bytes(c, 1, 64) > gpt_memory_bytes(c, 1, seq_len=64)
    True
    """
    B, T, c = batch_size, seq_len, config
    recorded = c.n_layers * (B * c.n_heads * T * T + 2 * B * T * c.d_model)
    return gpt_memory_bytes(c, B, seq_len=T) + (recorded + 2 * B * T) * BYTES_PER_VALUE  # + ids and targets


def seq2seq_memory_bytes(config: Seq2SeqConfig, batch_size: int, src_len: int, tgt_len: int,
                         training: bool = False, beam: int = 1) -> int:
    """Bytes for an encoder-decoder: weights (+ gradients and Adam state and the activations of
    a batch when training), or one decoding pass of batch_size × beam hypotheses when not."""
    c = config
    B = batch_size * (1 if training else beam)
    C, F, H, V = c.d_model, c.d_ff, c.n_heads, max(c.tgt_vocab_size, 1)
    parameters = seq2seq_parameter_count(c)
    encoder = _block_activations(B, src_len, src_len, C, F, H, training)
    decoder = (_block_activations(B, tgt_len, tgt_len, C, F, H, training)
               + _block_activations(B, tgt_len, src_len, C, 0, H, training))
    table = c.max_seq_len * C  # the sinusoidal positional-encoding buffer
    if training:
        values = parameters * (TRAINING_BYTES_PER_PARAMETER // BYTES_PER_VALUE) + table
        values += c.n_encoder_layers * encoder + c.n_decoder_layers * decoder + 3 * B * tgt_len * V
    else:
        memory = B * src_len * C  # the encoder's output, kept for every decoding step
        values = parameters + table + memory + max(encoder, decoder) + 2 * B * tgt_len * V
    return values * BYTES_PER_VALUE


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None  # cgroup v2 writes "max" for no limit


def _cgroup_free() -> int | None:
    """Free bytes under this process's cgroup limit (containers), or None without a limit."""
    for limit, usage in (("memory.max", "memory.current"),  # cgroup v2
                         ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes")):  # v1
        root = Path("/sys/fs/cgroup")
        total, used = _read_int(root / limit), _read_int(root / usage)
        if total is not None and used is not None and total < 1 << 60:  # v1's "unlimited" is ~2**63
            return max(total - used, 0)
    return None


def _system_free() -> int | None:
    """MemAvailable from /proc/meminfo (Linux), else the OS's count of free physical pages."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024  # the figure is in kB
    except (OSError, ValueError, IndexError):
        pass
    for pages in ("SC_AVPHYS_PAGES", "SC_PHYS_PAGES"):  # macOS has only the total
        try:
            return os.sysconf(pages) * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            continue
    return None


def available_memory(device: str | object = "cpu") -> int | None:
    """Bytes free for new tensors on `device`: the GPU's free memory on CUDA, else the system's
    available memory (lowered to the container's limit, if any). None when the OS does not say."""
    import torch

    device = torch.device(device) if not isinstance(device, torch.device) else device
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    figures = [n for n in (_system_free(), _cgroup_free()) if n is not None]
    return min(figures) if figures else None


def format_bytes(n: int) -> str:
    """Bytes in decimal units, as disks and `free -h` print them.

    >>> format_bytes(7_500_000_000)
    '7.5 GB'
    """
    if n >= 1e18:
        return f"{n:.1e} bytes"  # no unit makes such a figure readable
    for unit, size in (("PB", 1e15), ("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


def require_memory(nbytes: int, what: str, device: str | object = "cpu", hint: str = "") -> None:
    """Raise a one-line UserError when `what` needs more than the memory available on device.

    >>> require_memory(10**17, "this model")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    attnlab.errors.UserError: this model needs 100.0 PB of memory, but ... is available on cpu
    """
    free = available_memory(device)
    if free is None or nbytes <= free:
        return
    raise UserError(f"{what} needs {format_bytes(nbytes)} of memory, but {format_bytes(free)} is available "
                     f"on {device}" + (f"; {hint}" if hint else ""))
