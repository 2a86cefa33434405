"""The sparse autoencoder: d activations -> F features (ReLU) -> d again.

    f = ReLU((x − b_dec) W_enc + b_enc)        x (N, d), W_enc (d, F), b_enc (F,)   -> f (N, F)
    x̂ = f W_dec + b_dec                        W_dec (F, d), b_dec (d,)             -> x̂ (N, d)
    loss = mean over N of ( ‖x − x̂‖² + l1 · Σ_i f_i )

The names and shapes are SAELens's, so a saved file reads there too. Each row of W_dec (a
feature's direction in activation space) is kept at unit length (`normalise_decoder`, after
every optimiser step): otherwise the L1 penalty could be dodged by shrinking f and growing W_dec.
The pre-bias b_dec is subtracted before encoding and added back after decoding: the encoder
sees activations centred on the point the decoder adds back.

>>> import torch
>>> sae = SparseAutoencoder(SAEConfig(d_in=2, features=2))
>>> with torch.no_grad():
...     _ = sae.W_enc.copy_(torch.eye(2)); _ = sae.W_dec.copy_(torch.eye(2))
...     _ = sae.b_enc.zero_(); _ = sae.b_dec.zero_()
>>> sae(torch.tensor([[3.0, -1.0]]))[0].detach()  # the negative part is lost to the ReLU
tensor([[3., 0.]])
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn

from attnlab.errors import UserError


@dataclass
class SAEConfig:
    d_in: int  # the point's width d (512 for blocks.0.ffwd.hidden of the default run)
    features: int  # F = expansion · d

    def __post_init__(self) -> None:
        for name in ("d_in", "features"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UserError(f"the SAE's {name} must be a positive integer, got {value!r}")

    def to_dict(self) -> dict:
        return asdict(self)


class SparseAutoencoder(nn.Module):
    def __init__(self, config: SAEConfig, generator: torch.Generator | None = None):
        super().__init__()
        self.config = config
        d, n = config.d_in, config.features
        # Bricken et al.: decoder rows random unit vectors, encoder their transpose to begin with
        w_dec = torch.randn(n, d, generator=generator)
        w_dec /= w_dec.norm(dim=1, keepdim=True)
        self.W_dec = nn.Parameter(w_dec)  # (F, d)
        self.W_enc = nn.Parameter(w_dec.t().clone())  # (d, F)
        self.b_enc = nn.Parameter(torch.zeros(n))  # (F,)
        self.b_dec = nn.Parameter(torch.zeros(d))  # (d,)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """x (..., d) -> feature activations f (..., F), all ≥ 0."""
        return torch.relu((x - self.b_dec) @ self.W_enc + self.b_enc)

    def decode(self, f: torch.Tensor) -> torch.Tensor:
        """f (..., F) -> the reconstruction x̂ (..., d)."""
        return f @ self.W_dec + self.b_dec

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (..., d) -> (x̂ (..., d), f (..., F))."""
        f = self.encode(x)
        return self.decode(f), f

    @torch.no_grad()
    def normalise_decoder(self) -> None:
        """Every row of W_dec back to unit length (after each optimiser step)."""
        self.W_dec /= self.W_dec.norm(dim=1, keepdim=True).clamp_min(1e-8)


def sae_loss(x: torch.Tensor, x_hat: torch.Tensor, f: torch.Tensor, l1: float) -> torch.Tensor:
    """The training loss: squared error summed over d, plus l1 · the features' L1 norm, both
    averaged over the batch (the decoder rows have unit norm, so Σ f_i is Σ f_i ‖W_dec[i]‖).

    >>> x = torch.tensor([[1.0, 2.0]]); sae_loss(x, torch.tensor([[1.0, 0.0]]), torch.tensor([[0.5, 1.5]]), 0.1)
    tensor(4.2000)
    """
    return (x - x_hat).pow(2).sum(dim=-1).mean() + l1 * f.sum(dim=-1).mean()


def sae_tensors(sae: SparseAutoencoder) -> dict[str, torch.Tensor]:
    """The four tensors a file holds, under SAELens's names."""
    return {name: getattr(sae, name).detach().contiguous() for name in ("W_enc", "b_enc", "W_dec", "b_dec")}
