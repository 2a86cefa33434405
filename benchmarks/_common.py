"""Shared helpers for the benchmarks: timing with warm-up, and the same weights in HF GPT-2."""

from __future__ import annotations

import time
from typing import Callable

import torch

from attnlab import GPT
from attnlab.interop.hf import config_to_hf, state_dict_to_hf


def best_time(fn: Callable[[], object], repeats: int = 3, warmup: int = 1) -> float:
    """Fastest wall time of `repeats` runs after `warmup` runs (less sensitive to a busy machine)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def hf_twin(model: GPT):
    """A `transformers.GPT2LMHeadModel` holding exactly `model`'s weights."""
    from transformers import GPT2LMHeadModel

    hf_config = config_to_hf(model.config)
    hf_config.bos_token_id = hf_config.eos_token_id = hf_config.pad_token_id = None  # never stop early
    hf = GPT2LMHeadModel(hf_config)
    hf.generation_config.eos_token_id = hf.generation_config.bos_token_id = None
    result = hf.load_state_dict(state_dict_to_hf(model), strict=False)
    assert not result.unexpected_keys and set(result.missing_keys) <= {"lm_head.weight"}
    return hf
