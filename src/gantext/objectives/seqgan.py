"""SeqGAN (Yu et al., 2017): policy gradient with Monte-Carlo rollout rewards from D.

G samples discrete sequences. The reward of the action at position j is Q(prefix[:j+1]) = the mean
over ``n_rollouts`` completions of the prefix by a delayed copy of G (``rollout_update_rate`` 0.8:
rollout <- 0.8 * rollout + 0.2 * G after every G step) of sigmoid(D(completion)); the last action's
reward is D's score of the full sequence. G follows REINFORCE with a per-position leave-one-out
baseline (the mean reward at that position over the *other* rows of the batch, so a row's own
reward does not shrink its advantage; no baseline where no other row reaches the position). D is pretrained for ``d_pretrain_steps`` and takes ``d_steps`` steps per round.

The rollouts are batched tensor work: one pass of the rollout policy gives its decoding state
after every prefix; all (prefix x rollout) rows are then completed together by the shared decoding
loop (:func:`gantext.models.sampling.decode`), rows leaving the batch as soon as they emit <eos>,
in chunks of at most ``rollout_batch`` rows so memory stays bounded (TextGAN-PyTorch's nested
loops run out of memory here).

Memory. A pass holds a few vocabulary-wide rows of floats per completion (the step's logits and
their masked copy), so the rows per pass are also capped by the vocabulary:
:data:`~gantext.models.base.VOCAB_WIDE_ELEMENTS` // V (3,355 rows at V = 20k; COCO's 4,660 and
the builtin corpus keep ``rollout_batch``). With ``rollout_batch`` alone, 8,192 rows at V = 20k
held 2 x 655 MB at every decoding step (measured: rollouts of 64 sentences of 45 tokens peaked
at 1.97 GB, 1.05 GB with 2,048 rows). The objective prints its
:class:`RolloutPlan` up front: completions and generator steps per G step, rows per pass and
the memory estimate. Splitting the passes differently does not change the rewards (each row
draws its own uniforms, in order, from the one stream).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch

from gantext.configfields import param
from gantext.models.base import VOCAB_WIDE_ELEMENTS, vocab_wide_rows
from gantext.models.discriminator_base import TextDiscriminator
from gantext.models.generator import Generator
from gantext.models.sampling import categorical, decode, decoding, start, uniform
from gantext.objectives.base import SampledDConfig, SampledDObjective, eval_mode
from gantext.progress import write as progress_write
from gantext.text.vocab import PAD_ID


@dataclass(frozen=True)
class SeqGANObjectiveConfig(SampledDConfig):
    """Policy gradient with Monte-Carlo rollout rewards."""

    d_steps: int = param(2, ge=1, help="D steps per generator step")
    n_rollouts: int = param(4, ge=1)
    rollout_update_rate: float = param(0.8, ge=0.0, le=1.0)
    rollout_batch: int = param(8192, ge=1, help="max rollout rows in one batched pass (memory cap; "
                               "also at most 2^26 / vocabulary size)")


_SCORE_BATCH = 512  # rows per discriminator call when scoring rollouts
#: fp32 vocabulary-wide buffers alive per rollout row in a decoding step (the step's logits and
#: the masked head output; measured at V = 20k: ~160 KB a row)
_BUFFERS_PER_ROW = 2


@dataclass(frozen=True)
class RolloutPlan:
    """The rollout work of one G step and its memory: `batch` sampled rows of `width`
    (max_len + 1) slots, vocabulary `vocab`, `n_rollouts` completions per prefix, at most
    `rows_per_pass` completion rows decoded together."""

    batch: int
    width: int
    vocab: int
    n_rollouts: int
    rows_per_pass: int
    rollout_batch: int

    @classmethod
    def make(cls, batch: int, width: int, vocab: int, n_rollouts: int,
             rollout_batch: int) -> "RolloutPlan":
        """``rollout_batch`` rows per pass, at most ``VOCAB_WIDE_ELEMENTS // vocab``."""
        rows = min(rollout_batch, vocab_wide_rows(vocab))
        return cls(batch, width, vocab, n_rollouts, rows, rollout_batch)

    @property
    def release_after_pass(self) -> bool:
        """Whether the vocabulary capped the passes: then they are heavy enough that handing
        the heap's free pages back after each costs little next to it (COCO: not capped)."""
        return self.rows_per_pass < self.rollout_batch

    @property
    def completions(self) -> int:
        """Upper bound of completion rows per G step: every prefix before <eos> of every row."""
        return self.batch * (self.width - 1) * self.n_rollouts

    @property
    def steps(self) -> int:
        """Upper bound of generator decoding steps per G step (a prefix of j tokens is completed
        in at most width - j steps: ~width^2 / 2 per row and rollout)."""
        w = self.width
        return self.batch * self.n_rollouts * sum(w - j for j in range(1, w))

    @property
    def prefix_bytes(self) -> int:
        """The policy's logits after every prefix of the batch, kept for the whole G step."""
        return self.batch * (self.width - 1) * self.vocab * 4

    @property
    def pass_bytes(self) -> int:
        return self.rows_per_pass * self.vocab * 4 * _BUFFERS_PER_ROW

    def describe(self) -> str:
        mb = 1024 * 1024
        rollout_batch = self.rollout_batch
        cap = "" if not self.release_after_pass else \
            f", capped by the {self.vocab:,}-token vocabulary"
        return (f"rollouts per G step: up to {self.batch} x {self.width - 1} prefixes x "
                f"{self.n_rollouts} = {self.completions:,} completions, <= {self.steps:,} "
                f"generator steps, in passes of <= {self.rows_per_pass:,} rows (rollout_batch "
                f"{rollout_batch:,}{cap}); memory estimate {self.prefix_bytes / mb:,.0f} MB "
                f"(prefix logits) + {self.pass_bytes / mb:,.0f} MB (one pass)")


def _score(discriminator: TextDiscriminator, rows: torch.Tensor) -> torch.Tensor:
    """sigmoid(D(rows)), in sub-batches of similar length: D skips each sub-batch's all-<pad>
    tail, so sorting by length cuts the convolution work to roughly the real tokens."""
    order = torch.argsort((rows != PAD_ID).sum(dim=1), stable=True)
    out = torch.empty(len(rows), device=rows.device)
    for lo in range(0, len(rows), _SCORE_BATCH):
        idx = order[lo:lo + _SCORE_BATCH]
        out[idx] = torch.sigmoid(discriminator(rows[idx])).float()
    return out


@torch.no_grad()
def rollout_rewards(policy: Generator, discriminator: TextDiscriminator, samples: torch.Tensor,
                    n_rollouts: int, rollout_batch: int = 8192,
                    rng: torch.Generator | None = None) -> torch.Tensor:
    """Per-action rewards (B, W) in [0, 1] for encoded samples (B, W); 0 after <eos>.

    Work is batched over all prefixes and rollouts, at most `rollout_batch` rows at a time (and
    at most ``VOCAB_WIDE_ELEMENTS // V``: :class:`RolloutPlan`), through the shared
    decoding loop (any architecture: its state is indexed, never unpacked).
    Call with both modules in eval mode (no dropout)."""
    plan = RolloutPlan.make(*samples.shape, policy.spec.vocab_size, n_rollouts, rollout_batch)
    with decoding(policy):
        return _rollout_rewards(policy, discriminator, samples, n_rollouts, plan.rows_per_pass,
                                rng, plan.release_after_pass)


def _rollout_rewards(policy: Generator, discriminator: TextDiscriminator, samples: torch.Tensor,
                     n_rollouts: int, rows_per_pass: int, rng: torch.Generator | None,
                     release: bool = False) -> torch.Tensor:
    dev = policy.device
    samples = samples.to(dev).long()
    b, width = samples.shape
    lengths = (samples != PAD_ID).sum(dim=1) - 1  # index of <eos> in each row
    rewards = torch.zeros(b, width, device=dev)
    rewards[torch.arange(b, device=dev), lengths] = torch.sigmoid(discriminator(samples)).float()
    longest = int(lengths.max()) if b else 0
    if width < 2 or longest == 0:
        return rewards
    # The policy's state and next-token logits after every prefix samples[:, :j+1], as one
    # batch of longest * b rows (row j * b + i: prefix j of sample i).
    logits, state = start(policy, b)
    states, ls = [], []
    for j in range(longest):
        logits, state = policy.step(samples[:, j], state)
        states.append(state)
        ls.append(logits)
    states, ls = policy.cat_states(states), torch.cat(ls)
    # Prefixes that end before <eos> need rollouts; their R rollouts are contiguous rows.
    js = torch.arange(longest, device=dev)
    pb, pj = (js[None, :] < lengths[:, None]).nonzero(as_tuple=True)
    total = len(pb) * n_rollouts
    sums = torch.zeros(len(pb), device=dev)
    positions = torch.arange(width, device=dev)
    for first in range(0, total, rows_per_pass):
        p = torch.arange(first, min(total, first + rows_per_pass), device=dev) // n_rollouts
        bi, ji = pb[p], pj[p]
        flat = ji * b + bi
        u = uniform((len(p), width), rng, dev)

        def pick(logits, alive, pos, done, u=u):
            return categorical(logits, u[alive, pos.clamp(max=width - 1)])

        rows = samples[bi].masked_fill(positions[None, :] > ji[:, None], PAD_ID)
        done = decode(policy, rows, ji + 1, policy.index_state(states, flat), ls[flat], pick)
        sums.index_add_(0, p, _score(discriminator, done))
        if release:  # the pass's holes (see SeqGANObjective._release), before the next pass
            from gantext.runtime import release_at_peak  # (runtime imports config)

            release_at_peak()
    rewards[pb, pj] = sums / n_rollouts
    return rewards


def leave_one_out_baseline(rewards: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per (row, position): the mean reward at that position over the other rows that reach it
    (0 where none does). Unbiased for REINFORCE, unlike a batch mean that includes the row."""
    total = (rewards * mask).sum(0, keepdim=True) - rewards * mask
    others = mask.sum(0, keepdim=True) - mask
    return total / others.clamp_min(1.0)


class SeqGANObjective(SampledDObjective):
    """D: BCE on real vs sampled ids; G: REINFORCE with rollout rewards and a baseline."""

    section = "seqgan"
    config = SeqGANObjectiveConfig
    log_keys = ("d_acc_real", "d_acc_fake", "mean_reward")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.rollout = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.rollout.after_copy()  # cuDNN: re-pack the copied LSTM weights (one contiguous block)
        c = self.ocfg
        self.plan = RolloutPlan.make(self.cfg.batch_size, self.max_len + 1, self.vocab_size,
                                     c.n_rollouts, c.rollout_batch)
        progress_write(f"{self.cfg.loss}: {self.plan.describe()}")  # up front

    def generator_step(self, real: torch.Tensor, step: int) -> dict[str, float]:
        c = self.ocfg
        samples = self.samples(len(real), 1.0)  # drawn with this round's D fakes
        with eval_mode(self.D):
            rewards = rollout_rewards(self.rollout, self.D, samples, c.n_rollouts, c.rollout_batch,
                                      self.rng)
        self._release()  # before the backward: its V-wide buffers need not sit on top
        mask = (samples != PAD_ID).float()
        advantage = (rewards - leave_one_out_baseline(rewards, mask)) * mask
        logp = -self.G.token_nll(samples)  # (B, W), 0 at padding
        loss = -(logp * advantage).sum() / mask.sum()
        norm = self.update(self.g_opt, self.G, loss, "generator loss")
        self._update_rollout()
        self._release()
        return {"g_loss": loss.detach(), "mean_reward": (rewards * mask).sum() / mask.sum(),
                "g_grad_norm": norm}

    def _release(self) -> None:
        """Hand the heap's free pages back (:func:`gantext.runtime.release_freed_memory`) when
        the vocabulary caps the rollout passes: every batch of samples has its own width, so
        the V-wide buffers of one step leave holes the next step's shapes do not fit, and the
        kept heap grew by ~0.8 GB a step at V = 20k. Only then: the passes are heavy enough
        that re-faulting the pages costs little next to them (COCO's are not capped)."""
        if self.plan.release_after_pass:
            from gantext.runtime import release_at_peak  # (runtime imports config)

            release_at_peak()

    @torch.no_grad()
    def _update_rollout(self) -> None:
        rate = self.ocfg.rollout_update_rate
        for r, g in zip(self.rollout.parameters(), self.G.parameters()):
            r.mul_(rate).add_(g.detach(), alpha=1.0 - rate)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "rollout": self.rollout.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.rollout.load_state_dict(state["rollout"])
