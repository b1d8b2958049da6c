"""ColdGAN (Scialom et al., 2020, "ColdGANs: Taming Language GANs with Cautious Sampling
Strategies"): policy gradient on *cold* samples, importance-weighted back to the policy.

Taken from the paper:

- exploration with a cautious sampler q: the generator's own distribution at a temperature
  ``sample_temperature`` < 1 (the paper's ColdGAN_T; its best unconditional setting is T = 0.2),
  so rewarded sequences stay near the modes, where D's scores are informative;
- importance weights pi_theta / q for these off-policy samples, so the gradient is the one of the
  expected reward under pi_theta (what evaluation samples at T = 1), not under q;
- clipped importance weights to bound the variance of the estimate (the paper's "importance weight
  clipping"); the clip here is PPO's (Schulman et al., 2017): per token,
  loss = -min(r * A, clip(r, 1 - eps, 1 + eps) * A), r = pi_theta(y_t | y_<t) / q(y_t | y_<t),
  with r first capped at ``ratio_cap`` (dual-clip PPO, Ye et al., 2020). PPO's min leaves r
  unbounded for a negative advantage, and a cold q makes r huge exactly there: a token q drew
  against its odds (q = e^-50 at T = 0.2 where pi = e^-10) has r = e^40, so one such token's
  gradient swamped the batch (g_loss 2e7 on a news corpus; an inf gradient norm at step 132 on a
  poetry corpus). With the cap a token's weight is at most ``ratio_cap`` * |A|, and a ratio
  above it gets no gradient, as PPO's clip gives the other side;
- the reward is the discriminator's probability that the sequence is real, sigmoid(D(y));
- optionally mixed with the MLE loss on a real batch (``mle_weight``; the paper's generators keep
  a teacher-forcing term, 0 switches it off).

Choices where the paper is silent or does not fit this pipeline (say so, change here):

- per-token ratios (the sequence ratio is a product of up to 33 of them and explodes), each
  token's advantage the sequence's: A = reward - the mean reward of the *other* rows of the batch
  (leave-one-out baseline, unbiased);
- q is the temperature-scaled distribution of the *current* weights (detached), so the ratio is
  exactly pi/q of the sampler that drew the rows (the shared sampler of models/sampling.py);
  nucleus sampling (ColdGAN_nucleus) is not offered: the shared sampler has temperature only;
- D is a CNN classifier trained with BCE on real rows vs samples at ``d_temperature`` (default 1,
  what evaluation samples), pretrained for ``d_pretrain_steps`` like SeqGAN's so the first rewards
  carry signal; the paper's memory replay of old samples is not implemented.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from gantext.configfields import param
from gantext.objectives.base import SampledDConfig, SampledDObjective, eval_mode
from gantext.text.vocab import PAD_ID


@dataclass(frozen=True)
class ColdGANObjectiveConfig(SampledDConfig):
    """Cold-sampling policy gradient with clipped importance weights (ColdGAN)."""

    sample_temperature: float = param(0.2, gt=0.0, le=1.0,
                                      help="temperature of the exploration sampler q (paper: 0.2)")
    clip_eps: float = param(0.2, gt=0.0, lt=1.0, help="PPO clip: ratios kept in [1-eps, 1+eps]")
    ratio_cap: float = param(3.0, ge=2.0, help="dual clip: pi/q above this counts as this (a "
                                                "negative advantage's bound; > 1 + clip_eps)")
    mle_weight: float = param(0.0, ge=0.0, help="weight of the MLE loss on a real batch (0: off)")


def clipped_surrogate(logp: torch.Tensor, logq: torch.Tensor, advantage: torch.Tensor,
                      mask: torch.Tensor, eps: float, cap: float = 3.0
                      ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """PPO's clipped importance-weighted policy-gradient loss, averaged over the real tokens,
    with each ratio first capped at `cap` (dual clip; see the module docstring).

    logp (B, W): log pi_theta of the sampled tokens (with gradient); logq (B, W): their log
    probability under the sampler (no gradient); advantage (B,) per sequence; mask (B, W) 1 at
    real tokens; `cap` >= 2 > 1 + eps. Returns the loss and logs (mean capped ratio, fraction
    of clipped tokens). |loss| <= cap * max |A|, and a token's gradient weight r * |A| <= cap * |A|.
    """
    # masked before exp (at <pad> both log-probs are ~-1e9 scaled differently), capped before
    # exp (exp(40) and beyond are the cold sampler's rare tokens: they overflowed float32);
    # a ratio above the cap gets no gradient, as the clip gives one beyond 1 + eps for A > 0
    ratio = torch.exp(((logp - logq.detach()) * mask).clamp(max=math.log(cap)))
    adv = advantage.detach()[:, None]
    surrogate = torch.minimum(ratio * adv, ratio.clamp(1.0 - eps, 1.0 + eps) * adv)
    n = mask.sum().clamp_min(1.0)
    loss = -(surrogate * mask).sum() / n
    clipped = ((ratio - 1.0).abs() > eps).float()
    return loss, {"is_ratio": (ratio.detach() * mask).sum() / n, "clip_frac": (clipped * mask).sum() / n}


def leave_one_out(rewards: torch.Tensor) -> torch.Tensor:
    """rewards (B,) minus the mean of the other rows' rewards (0 for a single row)."""
    b = len(rewards)
    if b < 2:
        return torch.zeros_like(rewards)
    return rewards - (rewards.sum() - rewards) / (b - 1)


class ColdGANObjective(SampledDObjective):
    """D: BCE real vs samples; G: clipped importance-weighted REINFORCE on cold samples."""

    section = "coldgan"
    config = ColdGANObjectiveConfig
    log_keys = ("d_acc_real", "d_acc_fake", "mean_reward", "is_ratio", "clip_frac")

    @property
    def g_temperature(self) -> float:  # the G step samples from the exploration sampler q
        return self.ocfg.sample_temperature

    def generator_step(self, real: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        c = self.ocfg
        samples = self.samples(len(real), c.sample_temperature)
        with torch.no_grad(), eval_mode(self.D):
            rewards = torch.sigmoid(self.D(samples)).float()
        logits, _ = self.G(self.G.shift_right(samples))
        target = samples.long().unsqueeze(-1)
        logp = torch.log_softmax(logits.float(), -1).gather(-1, target).squeeze(-1)
        logq = torch.log_softmax(logits.detach().float() / c.sample_temperature, -1
                                 ).gather(-1, target).squeeze(-1)
        mask = (samples != PAD_ID).float()
        loss, logs = clipped_surrogate(logp, logq, leave_one_out(rewards), mask, c.clip_eps,
                                       c.ratio_cap)
        loss = self.with_mle_term(loss, real)
        norm = self.update(self.g_opt, self.G, loss, "generator loss")
        return {"g_loss": loss.detach(), "mean_reward": rewards.mean(), **logs, "g_grad_norm": norm}
