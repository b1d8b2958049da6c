"""Reverse-KL policy gradient: REINFORCE with D's logit as the reward (the f-GAN view).

A discriminator trained with BCE on real rows vs the generator's own samples has, at its
optimum, logit D(x) = log p_data(x) - log p_G(x) (Goodfellow et al., 2014; Nowozin et al.,
2016, "f-GAN"). So E_{x~G}[logit D(x)] = -KL(p_G || p_data), and REINFORCE with that reward
(D held fixed during the G step) descends the reverse KL from the generator to the data: a
mode-seeking objective whose reward also carries the generator's own -log p_G(x), so collapsing
onto a few sentences is penalised by construction (D spots repeated rows). Compared with SeqGAN
(reward sigmoid(D), which saturates at 0 for every clearly fake row) the logit keeps ranking the
bad rows; there are no Monte-Carlo rollouts, so a generator step costs one sampling pass.

Choices (say so, change here):

- sequence-level reward for every token of the row, leave-one-out baseline over the batch
  (unbiased), loss averaged over the real tokens as SeqGAN's;
- the logit is clipped to [-reward_clip, reward_clip]: D's estimate of the log density ratio is
  least reliable where it is extreme, and one such row would dominate a batch's gradient;
- optional anchor ``kl_weight`` * (log p_G(x) - log p_ref(x)) subtracted from each row's reward,
  p_ref the MLE checkpoint the stage starts from (KL-control, as in Jaques et al., 2017 and
  Ziegler et al., 2019): it keeps the generator near the MLE's distribution (0: off);
- D: a CNN classifier, BCE real vs samples at temperature 1 (what evaluation draws),
  pretrained for ``d_pretrain_steps`` like SeqGAN's so the first rewards carry signal.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch

from gantext.configfields import param
from gantext.objectives.base import SampledDConfig, SampledDObjective, eval_mode
from gantext.objectives.coldgan import leave_one_out
from gantext.text.vocab import PAD_ID


@dataclass(frozen=True)
class ReverseKLConfig(SampledDConfig):
    """REINFORCE with reward logit D(x), the estimate of log p_data(x) / p_G(x)."""

    reward_clip: float = param(5.0, gt=0.0, help="D's logit clipped to +-this before use")
    kl_weight: float = param(0.0, ge=0.0,
                             help="anchor: reward -= weight * log p_G(x)/p_ref(x), ref = the MLE")


class ReverseKLObjective(SampledDObjective):
    """D: BCE real vs samples; G: REINFORCE on its own samples with reward clip(logit D)."""

    section = "reverse_kl"
    config = ReverseKLConfig
    log_keys = ("d_acc_real", "d_acc_fake", "mean_reward", "kl_ref")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.ref = None
        if self.ocfg.kl_weight > 0:  # the starting checkpoint, frozen
            self.ref = copy.deepcopy(self.G).eval().requires_grad_(False)
            self.ref.after_copy()

    def generator_step(self, real: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        c = self.ocfg
        samples = self.samples(len(real), 1.0)
        with torch.no_grad(), eval_mode(self.D):
            rewards = self.D(samples).float().clamp(-c.reward_clip, c.reward_clip)
        logp = -self.G.token_nll(samples)  # (B, W), 0 at padding
        mask = (samples != PAD_ID).float()
        kl = torch.zeros_like(rewards)
        if self.ref is not None:
            with torch.no_grad():
                kl = logp.detach().sum(1) + self.ref.token_nll(samples).sum(1)
            rewards = rewards - c.kl_weight * kl
        advantage = leave_one_out(rewards).detach()
        loss = -(logp * advantage[:, None]).sum() / mask.sum().clamp_min(1.0)
        norm = self.update(self.g_opt, self.G, loss, "generator loss")
        return {"g_loss": loss.detach(), "mean_reward": rewards.mean(), "kl_ref": kl.mean(),
                "g_grad_norm": norm}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(),
                "ref": self.ref.state_dict() if self.ref is not None else None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        if self.ref is not None:
            self.ref.load_state_dict(state["ref"])
