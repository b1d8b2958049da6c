"""Non-saturating GAN loss on Gumbel-softmax relaxed sequences (RelGAN style).

G emits soft one-hots softmax(beta * (logits + g)); D scores them against real one-hots and its
gradient flows back through the softmax into G. The inverse temperature beta is annealed from 1 to
``beta_max`` over the run (exp: beta_max ** (step / steps)) so early updates see smooth, low-variance
gradients and late samples are nearly discrete, like the data. D may use smoothed labels 0.9 / 0.1.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gantext.objectives.base import RelaxedObjective, frozen


class BCEObjective(RelaxedObjective):
    """D: binary cross-entropy real vs relaxed fake; G: -log D(fake) (non-saturating)."""

    section = "bce"

    def discriminator_step(self, real: torch.Tensor, step: int) -> dict[str, float]:
        with torch.no_grad():
            fake = self._fake(len(real), step)
        d_real = self.D(real.to(self.device))
        d_fake = self.D(fake)
        hi, lo = (0.9, 0.1) if self.ocfg.label_smoothing else (1.0, 0.0)
        loss = (F.binary_cross_entropy_with_logits(d_real, torch.full_like(d_real, hi))
                + F.binary_cross_entropy_with_logits(d_fake, torch.full_like(d_fake, lo)))
        norm = self.update(self.d_opt, self.D, loss, "discriminator loss")
        return {"d_loss": loss.item(), "d_acc_real": float((d_real > 0).float().mean()),
                "d_acc_fake": float((d_fake < 0).float().mean()), "d_grad_norm": norm}

    def generator_step(self, real: torch.Tensor, step: int) -> dict[str, float]:
        with frozen(self.D):
            score = self.D(self._fake(len(real), step))
            # -log sigmoid(D(fake)): the non-saturating loss, strong gradients while D wins.
            loss = F.softplus(-score).mean()
            norm = self.update(self.g_opt, self.G, loss, "generator loss")
        return {"g_loss": loss.item(), "g_grad_norm": norm}
