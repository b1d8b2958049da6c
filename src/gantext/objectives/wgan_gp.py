"""WGAN-GP (Gulrajani et al., 2017) on real one-hots vs Gumbel-softmax relaxed sequences.

Critic loss E[D(fake)] - E[D(real)] + lambda * E[(||grad D(x_hat)||_2 - 1)^2], x_hat on random points
of the lines between real one-hot rows and generated soft rows; ``n_critic`` critic steps per
generator step; Adam betas (0.5, 0.9) by default, as in the paper (set in ``adversarial.wgan_gp``).
"""

from __future__ import annotations

from typing import Callable

import torch

from gantext.objectives.base import RelaxedObjective, frozen, one_hot


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

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.d_steps_per_g_step = self.ocfg.n_critic

    def discriminator_step(self, real: torch.Tensor, step: int) -> dict[str, float]:
        with torch.no_grad():
            fake = self._fake(len(real), step)
        real = real.to(self.device)
        d_real = self.D(real).mean()  # ids: the same score as one-hots, without the V-wide matmul
        real_1h = one_hot(real, self.vocab_size)
        d_fake = self.D(fake).mean()
        alpha = torch.rand(len(real), generator=self.rng)
        gp = gradient_penalty(self.D, real_1h, fake, alpha)
        loss = d_fake - d_real + self.ocfg.gp_lambda * gp
        norm = self.update(self.d_opt, self.D, loss, "critic loss")
        return {"d_loss": loss.item(), "wasserstein": (d_real - d_fake).item(),
                "gradient_penalty": gp.item(), "d_grad_norm": norm}

    def generator_step(self, real: torch.Tensor, step: int) -> dict[str, float]:
        with frozen(self.D):
            loss = -self.D(self._fake(len(real), step)).mean()
            norm = self.update(self.g_opt, self.G, loss, "generator loss")
        return {"g_loss": loss.item(), "g_grad_norm": norm}
