"""WGAN-GP (Gulrajani et al., 2017) on real one-hots vs Gumbel-softmax relaxed sequences.

Critic loss E[D(fake)] - E[D(real)] + lambda * E[(||grad D(x_hat)||_2 - 1)^2], x_hat on random points
of the lines between real one-hot rows and generated soft rows; ``n_critic`` critic steps per
generator step; Adam betas (0.5, 0.9) by default, as in the paper (set in ``adversarial.wgan_gp``).
The critic runs without dropout, as the paper's: with dropout, D(real), D(fake) and the penalty
would each see a different sub-network.

The penalty is the paper's, on the (B, T, V) one-hot interpolates, but it is computed in the
critic's embedding space: the critic embeds a row as x E, so its gradient there is
grad_x = grad_e E^T and ||grad_x||^2 = sum_t grad_e[t] (E^T E) grad_e[t]. That is the same
function of the critic's weights without a (B, T, V) interpolate, one-hot of the reals or
gradient. With those tensors a critic step cost 2.1-2.3x a bce D step (at 25,000 and 4,660 words);
now 1.26x, the penalty itself 4-5x cheaper (``bench/relaxed_speed.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from gantext.configfields import param
from gantext.models.discriminator_base import TextDiscriminator
from gantext.objectives.base import RelaxedConfig, RelaxedObjective


@dataclass(frozen=True)
class WGANGPObjectiveConfig(RelaxedConfig):
    """WGAN with gradient penalty on real/soft-fake interpolates."""

    gp_lambda: float = param(10.0, ge=0.0)
    n_critic: int = param(3, ge=1, help="critic steps per generator step")
    adam_beta1: float = param(0.5, ge=0.0, lt=1.0, help="paper: 0.5, 0.9")
    adam_beta2: float = param(0.9, ge=0.0, lt=1.0)


def interpolate(real: torch.Tensor, fake: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """alpha * real + (1 - alpha) * fake, row by row: real, fake (B, ...); alpha (B,) in [0, 1]."""
    a = alpha.view(-1, *([1] * (real.dim() - 1))).to(real)
    return a * real + (1.0 - a) * fake


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], x_hat: torch.Tensor,
                     gram: torch.Tensor | None = None) -> torch.Tensor:
    """E[(||grad critic(x_hat)||_2 - 1)^2] over the rows of x_hat (B, ...).

    With `gram` = W^T W (D, D), x_hat (B, T, D) is the image x W of the penalised points x under
    a linear map W (V, D), and the norm is the one of the gradient with respect to x:
    ||grad_x||^2 = sum_t g_t gram g_t^T with g = grad_x_hat, without the (B, T, V) gradient.
    x_hat may be a function of the critic's weights (W itself); the graph is kept (create_graph)
    so the penalty trains the critic."""
    if not x_hat.requires_grad:
        x_hat = x_hat.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    if gram is None:
        norm = grad.flatten(1).norm(2, dim=1)
    else:
        # the floor keeps sqrt's gradient finite where a row's gradient vanishes
        sq = torch.einsum("btd,de,bte->b", grad, gram, grad)
        norm = sq.clamp_min(1e-12).sqrt()
    return ((norm - 1.0) ** 2).mean()


def embedded_gradient_penalty(critic: TextDiscriminator, real: torch.Tensor, fake: torch.Tensor,
                              alpha: torch.Tensor) -> torch.Tensor:
    """The penalty on one-hot interpolates alpha * one_hot(real) + (1 - alpha) * fake (real ids
    (B, T), fake soft rows (B, T, V), cut from G), taken in the critic's embedding space (see the
    module docstring): the same value as on the one-hots, without their (B, T, V) gradient."""
    e_hat = interpolate(critic.embed(real), critic.embed(fake.detach()), alpha)
    return gradient_penalty(critic.score_embedded, e_hat, critic.embedding.T @ critic.embedding)


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
        if isinstance(self.D, TextDiscriminator):
            gp = embedded_gradient_penalty(self.D, real, fake, alpha)
        else:  # a critic without an embedding matrix: the penalty on the one-hots themselves
            reals = F.one_hot(real.long(), self.vocab_size).to(fake)
            gp = gradient_penalty(self.D, interpolate(reals, fake.detach(), alpha))
        loss = d_fake - d_real + self.ocfg.gp_lambda * gp
        return loss, {"wasserstein": (d_real - d_fake).detach(), "gradient_penalty": gp.detach()}

    def g_loss(self, d_fake: torch.Tensor, d_real: torch.Tensor | None) -> torch.Tensor:
        return -d_fake.mean()
