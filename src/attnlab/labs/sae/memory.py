"""What an SAE needs, estimated before anything is allocated (as model/memory.py does for a GPT).

An SAE of F = expansion · d features holds W_enc (d, F), W_dec (F, d), b_enc (F,) and b_dec (d,);
training keeps for each a gradient and Adam's two moments. The activations collected are
(N, d) floats, one row per token; the browser keeps every token's activations for the features
too, (N, F), and each unit's logit weights, (F + d, V). The figures come from the flags, from
sae.json and from the run's config.json (whole batches of its windows are drawn), so a size
written in any of them is checked before it is used:

    >>> from attnlab.model.memory import format_bytes
    >>> format_bytes(training_bytes(512, 2048, 65536, 16384, 256))
    '571.8 MB'
    >>> format_bytes(weights_bytes(512, 10**9))
    '4.1 TB'
"""

from __future__ import annotations

from pathlib import Path

from attnlab.model.memory import BYTES_PER_VALUE, TRAINING_BYTES_PER_PARAMETER, require_memory

EVAL_BATCH = 4096  # tokens metrics.feature_stats encodes at once
IDS_BYTES = 2 * 8  # a token drawn: its id and the next one (x and y), int64


def parameters(d: int, features: int) -> int:
    """W_enc, W_dec, b_enc, b_dec."""
    return 2 * d * features + features + d


def weights_bytes(d: int, features: int) -> int:
    """The SAE's weights alone (loaded to browse)."""
    return parameters(d, features) * BYTES_PER_VALUE


def training_bytes(d: int, features: int, tokens: int, eval_tokens: int, batch_size: int) -> int:
    """Training: the weights with their gradients and Adam's state; the ids drawn (x and y, int64)
    and the activations of every token collected (joined from pieces: twice, for a moment); a step's
    or an evaluation's (n, F) tensors (f, its gradient, ReLU's, the reconstruction's: about six)."""
    weights = parameters(d, features) * TRAINING_BYTES_PER_PARAMETER
    activations = (tokens + eval_tokens) * (2 * d * BYTES_PER_VALUE + IDS_BYTES)
    step = 6 * max(batch_size, EVAL_BATCH) * features * BYTES_PER_VALUE
    return weights + activations + step


def browsing_bytes(d: int, features: int, tokens: int, vocab_size: int, drawn: int = 0) -> int:
    """Browsing: the weights; the ids of the `drawn` tokens (whole batches of the run, of which
    `tokens` are kept); every kept token's activations for the neurons and the features, with the
    densities and specificities computed from them (about three copies); each unit's logit weights."""
    activations = 3 * tokens * (d + features) * BYTES_PER_VALUE
    logits = (d + features) * vocab_size * BYTES_PER_VALUE
    return weights_bytes(d, features) + max(drawn, tokens) * IDS_BYTES + activations + logits


def check_training(run_dir: str | Path, d: int, expansion: int, tokens: int, eval_tokens: int,
                   batch_size: int) -> None:
    """Refuse, in one line with the figures, an SAE that cannot be trained in the memory free."""
    from attnlab.labs.sae.activations import drawn

    features = expansion * d
    (batches, train), (_, val) = drawn(run_dir, tokens), drawn(run_dir, eval_tokens)
    require_memory(training_bytes(d, features, train, val, batch_size),
                   f"an SAE of {features} features (--expansion {expansion} x width {d}) trained on --tokens "
                   f"{tokens} and --eval-tokens {eval_tokens}{_batches(run_dir, train // batches)}",
                   hint="lower --expansion or --tokens")


def check_browsing(sae_dir: Path, d: int, features: int, tokens: int, vocab_size: int, drawn: int,
                   per_batch: int) -> None:
    """Refuse, in one line with the figures, an SAE (its sizes as sae.json says) that cannot be
    browsed on `tokens` tokens (of `drawn`, in batches of `per_batch`) in the memory free."""
    require_memory(browsing_bytes(d, features, tokens, vocab_size, drawn),
                   f"browsing the {features} features of width {d} in {sae_dir} on --tokens {tokens}"
                   f"{_batches(sae_dir.parent, per_batch)}", hint="lower --tokens, or browse a smaller SAE")


def _batches(run_dir: str | Path, per_batch: int) -> str:
    return f" (drawn in whole batches of {per_batch} tokens, as {Path(run_dir) / 'config.json'} says)"
