"""ScratchGAN (de Masson d'Autume et al., 2019, "Training Language GANs from Scratch"): dense
per-token rewards from a discriminator that scores every prefix, discounted, with a
moving-average baseline; large effective batches; a regularised discriminator.

Taken from the paper (and the defaults of its published code, read for facts):

- D scores every prefix: logit D_t of x[:t + 1] (an LSTM in the paper; here any
  ``model.discriminator.arch`` that scores prefixes, and the ``lstm`` D when the configured one
  does not, e.g. the default cnn). D is trained with the binary cross-entropy of every prefix:
  real rows' prefixes -> 1, generated rows' -> 0, half each;
- the reward of the token at t is r_t = 2 sigmoid(D_t) - 1 (in [-1, 1]), and the token's
  return is the discounted sum R_t = sum_{s >= t} gamma^(s - t) r_s (``gamma``, paper 0.23:
  mostly the next few tokens' rewards);
- REINFORCE with a baseline b, an exponential moving average of the batch's mean return:
  b <- decay * b + (1 - decay) * mean(R) (``baseline_decay``, the code's 0.08: b follows the
  current batch closely), updated before use; loss = -sum_t (R_t - b) log pi(x_t | x_<t);
- large batches (the paper's 512): here ``accumulate`` micro-batches of
  ``adversarial.batch_size`` rows per update, for D and for G (gradients summed, one step), so the
  effective batch grows without the memory of one big batch;
- D regularisation: L2 on D's weights (``d_l2``, the code's 1e-2 on sum(w^2) / 2), dropout
  (``model.discriminator.dropout``), optionally spectral norm (``model.discriminator.spectral_norm``);
  Adam beta1 0.5 for both nets, as the code's.

Where this differs (say so, change here): the pipeline fine-tunes the MLE generator rather than
training from scratch, so D is pretrained for ``d_pretrain_steps`` micro-batches (rounded up to
whole updates) like the other sampled-D objectives; no pretrained (GloVe) embeddings; the loss is
averaged over the effective batch's real tokens (positions up to and including <eos>), and D's
cross-entropy over each row's real positions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable

import torch
import torch.nn.functional as F

from gantext.configfields import param
from gantext.objectives.base import SampledDConfig, SampledDObjective, bce_accuracies, eval_mode
from gantext.text.vocab import PAD_ID


@dataclass(frozen=True)
class ScratchGANConfig(SampledDConfig):
    """Dense discounted per-token rewards from a per-prefix D (ScratchGAN)."""

    gamma: float = param(0.23, ge=0.0, le=1.0, help="discount of later tokens' rewards (paper 0.23)")
    baseline_decay: float = param(0.08, ge=0.0, lt=1.0,
                                  help="b <- decay * b + (1 - decay) * batch mean return (code: 0.08)")
    accumulate: int = param(4, ge=1, help="micro-batches of adversarial.batch_size per D and per G "
                                          "update: the effective batch (paper: 512 rows)")
    d_l2: float = param(0.01, ge=0.0, help="+ d_l2 * sum(w^2) / 2 over D's weights (code: 1e-2)")
    d_lr: float = param(1e-3, gt=0.0)
    adam_beta1: float = param(0.5, ge=0.0, lt=1.0, help="the paper's code: 0.5 for both nets")


def per_token_rewards(prefix_logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """r_t = 2 sigmoid(D_t) - 1 at real positions (mask 1), 0 elsewhere; (B, W)."""
    return (2.0 * torch.sigmoid(prefix_logits.float()) - 1.0) * mask


def discounted_returns(rewards: torch.Tensor, gamma: float) -> torch.Tensor:
    """R_t = sum_{s >= t} gamma^(s - t) r_s along dim 1 of rewards (B, W) (0 after a row ends
    when its rewards are)."""
    out = torch.empty_like(rewards)
    running = torch.zeros_like(rewards[:, 0])
    for t in range(rewards.shape[1] - 1, -1, -1):
        running = rewards[:, t] + gamma * running
        out[:, t] = running
    return out


def _masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (x * mask).sum() / mask.sum().clamp_min(1.0)


class ScratchGANObjective(SampledDObjective):
    """D: per-prefix BCE + L2, accumulated; G: REINFORCE with discounted per-token rewards and
    a moving-average baseline, accumulated."""

    section = "scratchgan"
    config = ScratchGANConfig
    log_keys = ("d_acc_real", "d_acc_fake", "mean_reward", "baseline")
    prefix_discriminator = "lstm"  # the paper's D, when model.discriminator.arch has no prefixes

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if not self.D.scores_prefixes:
            raise ValueError(f"scratchgan needs a discriminator that scores every prefix; the "
                             f"{self.D.arch!r} one does not (model.discriminator.arch: lstm or "
                             "transformer)")
        acc = self.ocfg.accumulate
        self.d_steps_per_g_step = self.ocfg.d_steps * acc  # D calls: micro-batches
        self.g_batches = acc
        self.baseline = torch.zeros((), device=self.device)
        self._micro = 0  # D micro-batches accumulated since D's last update
        self._d_loss = torch.zeros((), device=self.device)

    def prepare(self, real_batches: Iterable[torch.Tensor]) -> dict[str, float]:
        acc = self.ocfg.accumulate
        steps = math.ceil(self.ocfg.d_pretrain_steps / acc) * acc  # whole updates only
        return self.pretrain_discriminator(real_batches, steps, f"{self.cfg.loss}: D pretraining")

    # ------------------------------------------------------------------ D
    def discriminator_step(self, real: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        fake = self.d_fakes(len(real))
        real = real.to(self.device)
        acc = self.ocfg.accumulate
        if self._micro == 0:
            self.d_opt.zero_grad(set_to_none=True)
            self._d_loss = torch.zeros((), device=self.device)
        d_real, d_fake = self.D.prefix_scores(real), self.D.prefix_scores(fake)
        m_real, m_fake = (real != PAD_ID).float(), (fake != PAD_ID).float()
        bce = (0.5 * _masked_mean(F.binary_cross_entropy_with_logits(
                   d_real, torch.ones_like(d_real), reduction="none"), m_real)
               + 0.5 * _masked_mean(F.binary_cross_entropy_with_logits(
                   d_fake, torch.zeros_like(d_fake), reduction="none"), m_fake))
        l2 = sum((p.float() ** 2).sum() for p in self.D.parameters()) / 2
        loss = bce + self.ocfg.d_l2 * l2
        (loss / acc).backward()
        self._d_loss = self._d_loss + loss.detach() / acc
        self._micro += 1
        if self._micro == acc:  # the effective batch is complete: one D update
            self._micro = 0
            norm = self.apply_gradients(self.d_opt, self.D, self._d_loss, "discriminator loss")
        else:  # the accumulated gradient so far (logged; the update comes later)
            norm = torch.linalg.vector_norm(torch.stack(
                [p.grad.norm() for p in self.D.parameters() if p.grad is not None]))
        lengths = (real != PAD_ID).sum(1) - 1, (fake != PAD_ID).sum(1) - 1
        rows = torch.arange(len(real), device=self.device)
        # accuracy of the whole-row verdicts: the score of each row's last real prefix
        acc_logs = bce_accuracies(d_real[rows, lengths[0]].detach(),
                                  d_fake[rows, lengths[1]].detach())
        return {"d_loss": bce.detach(), **acc_logs, "d_grad_norm": norm.detach()}

    # ------------------------------------------------------------------ G
    def generator_step(self, real: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        c = self.ocfg
        batches = [self.samples(len(real), 1.0) for _ in range(c.accumulate)]
        masks = [(s != PAD_ID).float() for s in batches]
        with torch.no_grad(), eval_mode(self.D):
            rewards = [per_token_rewards(self.D.prefix_scores(s), m) for s, m in zip(batches, masks)]
        returns = [discounted_returns(r, c.gamma) * m for r, m in zip(rewards, masks)]
        tokens = sum(m.sum() for m in masks).clamp_min(1.0)
        mean_return = sum(r.sum() for r in returns) / tokens
        self.baseline = c.baseline_decay * self.baseline + (1.0 - c.baseline_decay) * mean_return
        self.g_opt.zero_grad(set_to_none=True)
        total = torch.zeros((), device=self.device)
        for s, m, ret in zip(batches, masks, returns):
            advantage = ((ret - self.baseline) * m).detach()
            logp = -self.G.token_nll(s)  # (B, W), 0 at padding
            loss = -(logp * advantage).sum() / tokens  # summed over micro-batches: the batch's
            loss.backward()
            total = total + loss.detach()
        norm = self.apply_gradients(self.g_opt, self.G, total, "generator loss")
        return {"g_loss": total, "mean_reward": sum(r.sum() for r in rewards) / tokens,
                "baseline": self.baseline.detach().clone(), "g_grad_norm": norm}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "baseline": self.baseline.clone(), "micro": self._micro,
                "d_loss": self._d_loss.clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.baseline = state["baseline"].to(self.device)
        self._micro = int(state["micro"])
        self._d_loss = state["d_loss"].to(self.device)
