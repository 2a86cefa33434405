"""Dead features brought back to life, as Bricken et al. 2023 describe ("Neuron resampling").

A feature that fired on none of the inputs since the last resampling is dead: it gets no
gradient and never will. Resampling points it at inputs the autoencoder reconstructs badly:

1. the loss ‖x − x̂‖² of each input of a sample; draw one input per dead feature with
   probability proportional to the *square* of that loss;
2. the drawn input, centred (x − b_dec) and scaled to unit length, is the feature's new decoder
   row; its encoder column is the same vector scaled to 0.2 × the mean norm of the living
   features' encoder columns; its encoder bias is 0;
3. Adam's moment estimates for every number changed are reset to zero.
"""

from __future__ import annotations

import torch

from attnlab.labs.sae.model import SparseAutoencoder


@torch.no_grad()
def resample_dead(sae: SparseAutoencoder, optimizer: torch.optim.Optimizer, dead: torch.Tensor,
                  x: torch.Tensor, generator: torch.Generator | None = None) -> int:
    """Resample the features where `dead` (F,) bool is True, from the inputs x (N, d) -> how many."""
    index = dead.nonzero().flatten()  # (n,)
    if len(index) == 0:
        return 0
    x_hat, _ = sae(x)
    weights = (x - x_hat).pow(2).sum(dim=-1).pow(2).double().cpu()  # (N,) loss squared
    if not torch.isfinite(weights).all() or weights.sum() <= 0:
        weights = torch.ones(len(x), dtype=torch.float64)
    chosen = torch.multinomial(weights, len(index), replacement=len(index) > len(x), generator=generator)
    vectors = x[chosen.to(x.device)] - sae.b_dec  # (n, d)
    vectors = vectors / vectors.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    alive = ~dead
    enc_norm = sae.W_enc[:, alive].norm(dim=0).mean() if alive.any() else torch.tensor(1.0)
    sae.W_dec[index] = vectors
    sae.W_enc[:, index] = vectors.t() * 0.2 * enc_norm
    sae.b_enc[index] = 0.0
    for param, rows in ((sae.W_dec, (index,)), (sae.W_enc, (slice(None), index)), (sae.b_enc, (index,))):
        for moment in ("exp_avg", "exp_avg_sq"):
            state = optimizer.state.get(param, {})
            if moment in state:
                state[moment][rows] = 0.0
    return len(index)
