"""WGAN-GP (Gulrajani et al., 2017) on real one-hots vs Gumbel-softmax relaxed sequences.

Critic loss E[D(fake)] - E[D(real)] + lambda * E[(||grad D(x_hat)||_2 - 1)^2], x_hat on random points
of the lines between real one-hot rows and generated soft rows; ``n_critic`` critic steps per
generator step; Adam betas (0.5, 0.9) by default, as in the paper (set in ``adversarial.wgan_gp``).
The critic runs without dropout, as the paper's: with dropout, D(real), D(fake) and the penalty
would each see a different sub-network.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from gantext.configfields import param
from gantext.objectives.base import RelaxedConfig, RelaxedObjective, one_hot


@dataclass(frozen=True)
class WGANGPObjectiveConfig(RelaxedConfig):
    """WGAN with gradient penalty on real/soft-fake interpolates."""

    gp_lambda: float = param(10.0, ge=0.0)
    n_critic: int = param(3, ge=1, help="critic steps per generator step")
    adam_beta1: float = param(0.5, ge=0.0, lt=1.0, help="paper: 0.5, 0.9")
    adam_beta2: float = param(0.9, ge=0.0, lt=1.0)


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor,
                     fake: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """E[(||grad critic(x_hat)||_2 - 1)^2] with x_hat = alpha * real + (1 - alpha) * fake.

    real, fake: (B, ...) of the same shape; alpha: (B,) in [0, 1]. The graph is kept
    (create_graph) so the penalty trains the critic."""
    a = alpha.view(-1, *([1] * (real.dim() - 1))).to(real)
    x_hat = (a * real + (1.0 - a) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    norm = grad.flatten(1).norm(2, dim=1)
    return ((norm - 1.0) ** 2).mean()


class WGANGPObjective(RelaxedObjective):
    """Critic: Wasserstein estimate with gradient penalty; G: -E[D(fake)]."""

    section = "wgan_gp"
    config = WGANGPObjectiveConfig
    log_keys = ("wasserstein", "gradient_penalty")
    discriminator_settings = {"dropout": 0.0}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.d_steps_per_g_step = self.ocfg.n_critic

    def d_loss(self, d_real: torch.Tensor, d_fake: torch.Tensor, real: torch.Tensor,
               fake: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        d_real, d_fake = d_real.mean(), d_fake.mean()
        alpha = torch.rand(len(real), generator=self.rng, device=self.rng.device)
        gp = gradient_penalty(self.D, one_hot(real, self.vocab_size), fake, alpha)
        loss = d_fake - d_real + self.ocfg.gp_lambda * gp
        return loss, {"wasserstein": (d_real - d_fake).detach(), "gradient_penalty": gp.detach()}

    def g_loss(self, d_fake: torch.Tensor, d_real: torch.Tensor | None) -> torch.Tensor:
        return -d_fake.mean()
