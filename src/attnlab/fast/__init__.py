"""Speed, behind one seam. `attnlab.model` is the reference a learner reads; this floor holds what
makes it fast, and nothing in `model/` knows it is here.

- `decode`     the one-token decoding step as plain tensor arithmetic, with the lm_head laid out
               as one slice of the vocabulary per thread; `generate`, `generate_tokens` and
               `stream_sample` are attnlab.generate's, stepping with it.
- `attention`  a faster attention kernel for CPU autocast (bf16), handed to each attention.
- `adamw`      PyTorch's fused AdamW without its start-up cost.

The contract is a test (tests/fast/): each fast path gives what the reference gives (logits,
tokens, losses, optimizer states), for every model switch, and with a named point or a PyTorch
hook attached the reference path runs instead. `attnlab generate`, the web lab and the training
code choose these; a model used directly (`model(idx)`, `model.generate(...)`) is the reference.
"""

from attnlab.fast.decode import generate, generate_tokens, stream_sample

__all__ = ["generate", "generate_tokens", "stream_sample"]
