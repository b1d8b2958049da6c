"""SeqGAN: the policy-gradient loss formula (advantage sign, leave-one-out baseline), and the
rollout plan that bounds memory by the vocabulary and is printed up front."""

from __future__ import annotations

import math

import pytest
import torch

from gantext.models import base
from gantext.models.base import VOCAB_WIDE_ELEMENTS
from gantext.objectives import seqgan
from gantext.objectives.seqgan import RolloutPlan, leave_one_out_baseline, rollout_rewards
from gantext.text.vocab import PAD_ID
from test_objectives import MAX_LEN, models, objective, real_rows


def test_leave_one_out_baseline_is_the_mean_of_the_other_rows_at_each_position():
    rewards = torch.tensor([[0.9, 0.2, 0.0], [0.1, 0.6, 0.5], [0.5, 0.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    want = torch.tensor([[0.3, 0.6, 0.5], [0.7, 0.2, 0.0], [0.5, 0.4, 0.5]])
    # position 2: only row 1 reaches it -> 0 for itself, 0.5 (its reward) for the others
    torch.testing.assert_close(leave_one_out_baseline(rewards, mask), want)


def test_generator_loss_is_reinforce_with_the_leave_one_out_advantage(monkeypatch):
    obj = objective("seqgan")
    rows = real_rows(4)
    mask = (rows != PAD_ID).float()
    # rewards that differ per row and position, so the baseline is far from 0 and the
    # advantage has both signs
    rewards = (torch.arange(rows.numel(), dtype=torch.float32).reshape(rows.shape) % 7) / 7
    rewards = rewards * mask
    obj.samples = lambda n, t=1.0, ahead=1: rows[:n]
    monkeypatch.setattr(seqgan, "rollout_rewards", lambda *a, **k: rewards)
    with torch.no_grad():
        logp = -obj.G.token_nll(rows)
    advantage = (rewards - leave_one_out_baseline(rewards, mask)) * mask
    want = -(logp * advantage).sum() / mask.sum()
    assert float(advantage.abs().sum()) > 0.5 and float(want) != 0.0
    logs = obj.generator_step(real_rows(4), step=0)
    assert float(logs["g_loss"]) == pytest.approx(float(want), rel=1e-5)
    # what the two plausible slips would log instead
    assert float(logs["g_loss"]) != pytest.approx(-float(want), rel=1e-3)        # sign flipped
    assert float(logs["g_loss"]) != pytest.approx(                                 # no baseline
        float(-(logp * rewards).sum() / mask.sum()), rel=1e-3)
    assert float(logs["mean_reward"]) == pytest.approx(float(rewards.sum() / mask.sum()))


def test_a_step_makes_the_best_rewarded_row_more_likely(monkeypatch):
    obj = objective("seqgan", g_lr=0.05)
    rows = real_rows(4)
    mask = (rows != PAD_ID).float()
    rewards = torch.tensor([1.0, 0.0, 0.0, 0.0])[:, None] * mask  # row 0 is the only good one
    obj.samples = lambda n, t=1.0, ahead=1: rows[:n]
    monkeypatch.setattr(seqgan, "rollout_rewards", lambda *a, **k: rewards)
    with torch.no_grad():
        before = -obj.G.token_nll(rows).sum(1)
    obj.generator_step(real_rows(4), step=0)
    with torch.no_grad():
        after = -obj.G.token_nll(rows).sum(1)
    assert after[0] > before[0]  # a flipped advantage would push it down
    assert (after[1:] - before[1:]).mean() < after[0] - before[0]


# ----------------------------------------------------------------------------- memory plan
def test_rows_per_pass_are_capped_by_the_vocabulary():
    big = RolloutPlan.make(64, 46, 20_000, 4, 8192)
    assert big.rows_per_pass == VOCAB_WIDE_ELEMENTS // 20_000 == 3355
    assert big.completions == 64 * 45 * 4
    assert big.steps == 64 * 4 * sum(range(1, 46))  # prefix j completes in <= 46 - j steps
    assert big.pass_bytes <= 2 * 4 * VOCAB_WIDE_ELEMENTS  # 512 MiB whatever V is
    assert big.prefix_bytes == 64 * 45 * 20_000 * 4
    small = RolloutPlan.make(64, 31, 300, 4, 8192)
    assert small.rows_per_pass == 8192  # a small vocabulary keeps rollout_batch
    assert RolloutPlan.make(64, 38, 4_660, 4, 8192).rows_per_pass == 8192  # so does COCO
    assert RolloutPlan.make(2, 5, 10 ** 9, 1, 8192).rows_per_pass == 1


@torch.no_grad()
def test_rollouts_run_in_the_planned_passes_with_the_same_rewards(monkeypatch):
    g, d = models(1)
    g.eval(), d.eval()
    samples = real_rows(6)
    want = rollout_rewards(g, d, samples, 2, 10_000, torch.Generator().manual_seed(3))
    passes = []
    decode = seqgan.decode
    monkeypatch.setattr(seqgan, "decode", lambda *a: passes.append(len(a[1])) or decode(*a))
    monkeypatch.setattr(base, "VOCAB_WIDE_ELEMENTS", 7 * g.spec.vocab_size)  # 7 rows a pass
    got = rollout_rewards(g, d, samples, 2, 10_000, torch.Generator().manual_seed(3))
    total = 2 * int(((samples != PAD_ID).sum(1) - 1).sum())  # prefixes before <eos> x rollouts
    assert passes == [7] * (total // 7) + ([total % 7] if total % 7 else [])
    assert torch.equal(got, want)  # passes of any size give the same rewards


def test_the_plan_is_printed_when_the_objective_is_built(capsys):
    obj = objective("seqgan")
    err = capsys.readouterr().err
    assert "seqgan: rollouts per G step: up to 64 x 6 prefixes x 2 = 768 completions" in err
    assert f"passes of <= {obj.plan.rows_per_pass:,} rows" in err and "memory estimate" in err
    assert math.isclose(obj.plan.prefix_bytes, 64 * MAX_LEN * obj.vocab_size * 4)
