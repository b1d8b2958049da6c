"""Non-saturating GAN loss on Gumbel-softmax relaxed sequences (RelGAN style).

G emits soft one-hots softmax(beta * (logits + g)); D scores them against real one-hots and its
gradient flows back through the softmax into G. The inverse temperature beta is annealed from 1 to
``beta_max`` over the run (exp: beta_max ** (step / steps)) so early updates see smooth, low-variance
gradients and late samples are nearly discrete, like the data. D may use one-sided label
smoothing (real target 0.9, fake target 0: Salimans et al., 2016, smooth only the reals).
"""

from __future__ import annotations

from dataclasses import dataclass
import torch
import torch.nn.functional as F

from gantext.configfields import param
from gantext.objectives.base import RelaxedConfig, RelaxedObjective, bce_accuracies


@dataclass(frozen=True)
class BCEObjectiveConfig(RelaxedConfig):
    """Non-saturating GAN loss with Gumbel-softmax relaxation (RelGAN style)."""

    label_smoothing: bool = param(False, help="one-sided: D's real target 0.9 (fakes stay 0)")


class BCEObjective(RelaxedObjective):
    """D: binary cross-entropy real vs relaxed fake; G: -log D(fake) (non-saturating)."""

    section = "bce"
    config = BCEObjectiveConfig
    log_keys = ("d_acc_real", "d_acc_fake")

    def d_loss(self, d_real: torch.Tensor, d_fake: torch.Tensor, real: torch.Tensor,
               fake: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        hi = 0.9 if self.ocfg.label_smoothing else 1.0
        loss = (F.binary_cross_entropy_with_logits(d_real, torch.full_like(d_real, hi))
                + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))
        return loss, bce_accuracies(d_real, d_fake)

    def g_loss(self, d_fake: torch.Tensor, d_real: torch.Tensor | None) -> torch.Tensor:
        # -log sigmoid(D(fake)): the non-saturating loss, strong gradients while D wins.
        return F.softplus(-d_fake).mean()
