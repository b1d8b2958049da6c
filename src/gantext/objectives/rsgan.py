"""RSGAN: the relativistic standard GAN loss (Jolicoeur-Martineau, 2018), RelGAN's best loss.

D estimates how much more real a real row is than a fake one: with paired raw scores,
D loss = -log sigmoid(D(real) - D(fake)) and G loss = -log sigmoid(D(fake) - D(real)), both means
over the pairs of a batch, on Gumbel-softmax relaxed fakes (Nie et al., 2019, RelGAN). Defaults
follow RelGAN: Adam 1e-4 for both, betas (0.9, 0.999), exponential temperature annealing.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gantext.objectives.base import RelaxedConfig, RelaxedObjective


class RSGANObjective(RelaxedObjective):
    """D: softplus(D(fake) - D(real)); G: softplus(D(real) - D(fake)), paired rows."""

    section = "rsgan"
    config = RelaxedConfig  # RelGAN's defaults: Adam 1e-4, betas (0.9, 0.999), beta_max 100
    log_keys = ("d_acc_pair",)
    g_uses_real = True

    def d_loss(self, d_real: torch.Tensor, d_fake: torch.Tensor, real: torch.Tensor,
               fake: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        gap = d_real - d_fake
        # d_acc_pair: how often D ranks the real row of a pair above the fake one
        return F.softplus(-gap).mean(), {"d_acc_pair": (gap > 0).float().mean()}

    def g_loss(self, d_fake: torch.Tensor, d_real: torch.Tensor | None) -> torch.Tensor:
        return F.softplus(d_real - d_fake).mean()
