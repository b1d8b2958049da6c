"""ColdGAN: the clipped importance-weighted surrogate, the leave-one-out advantage, the G step."""

import pytest
import torch

from gantext.config import params_from_dict
from gantext.objectives.coldgan import clipped_surrogate, leave_one_out
from _toy import tiny_objective, toy_rows

V, MAX_LEN = 10, 6


def _objective(**kw):
    return tiny_objective("coldgan", **kw)


def _real(n):
    return toy_rows(n, MAX_LEN, V)


def test_surrogate_is_ppo_clip_of_the_ratio_pi_over_q():
    logq = torch.log(torch.tensor([[0.5, 0.5, 0.5]]))
    logp = torch.log(torch.tensor([[0.5, 0.9, 0.1]])).requires_grad_(True)  # ratios 1, 1.8, 0.2
    mask = torch.tensor([[1.0, 1.0, 1.0]])
    loss, logs = clipped_surrogate(logp, logq, torch.tensor([1.0]), mask, eps=0.2)
    # A > 0: min(r, clip(r)) = 1, 1.2, 0.2
    assert float(loss.detach()) == pytest.approx(-(1.0 + 1.2 + 0.2) / 3)
    loss.backward()
    # the clipped token (r = 1.8 > 1.2 with A > 0) gets no gradient; the others r * A / 3
    torch.testing.assert_close(logp.grad, torch.tensor([[-1 / 3, 0.0, -0.2 / 3]]))
    assert float(logs["clip_frac"]) == pytest.approx(2 / 3)
    neg, _ = clipped_surrogate(logp.detach(), logq, torch.tensor([-1.0]), mask, eps=0.2)
    assert float(neg) == pytest.approx((1.0 + 1.8 + 0.8) / 3)  # A < 0: max(r, clip(r))


def test_padding_positions_do_not_overflow_the_ratio():
    big = torch.tensor([[-1e9, 0.0]])
    loss, logs = clipped_surrogate(big, big / 0.2, torch.tensor([1.0]), torch.tensor([[0.0, 1.0]]), 0.2)
    assert torch.isfinite(loss) and float(logs["is_ratio"]) == pytest.approx(1.0)


def test_leave_one_out_advantage():
    r = torch.tensor([1.0, 0.0, 0.5])
    torch.testing.assert_close(leave_one_out(r), torch.tensor([0.75, -0.75, 0.0]))
    assert float(leave_one_out(torch.tensor([0.3]))[0]) == 0.0


def test_generator_step_samples_cold_and_moves_only_g():
    obj = _objective(sample_temperature=0.5)
    seen = []
    sample = obj.G.sample
    obj.G.sample = lambda n, m, t, rng: seen.append(t) or sample(n, m, t, rng)
    d_before = [p.clone() for p in obj.D.parameters()]
    logs = obj.generator_step(_real(8), step=0)
    assert seen == [0.5]
    assert torch.isfinite(logs["g_loss"]) and logs["g_grad_norm"] > 0
    assert all(torch.equal(a, b) for a, b in zip(d_before, obj.D.parameters()))
    d_logs = obj.discriminator_step(_real(8), step=0)
    assert seen == [0.5, 1.0] and {"d_acc_real", "d_acc_fake"} <= set(d_logs)


def test_mle_weight_adds_the_mle_loss():
    a = _objective(mle_weight=0.0).generator_step(_real(8), 0)["g_loss"]
    obj = _objective(mle_weight=2.0)
    with torch.no_grad():
        s, n = obj.G.nll(_real(8))
    b = obj.generator_step(_real(8), 0)["g_loss"]
    assert float(b) == pytest.approx(float(a) + 2.0 * float(s) / n, rel=1e-4)


def test_params_section():
    p = params_from_dict({"adversarial": {"loss": "coldgan", "coldgan": {"sample_temperature": 0.3}}})
    assert p.adversarial.coldgan.sample_temperature == 0.3
    with pytest.raises(Exception, match="sample_temperature"):
        params_from_dict({"adversarial": {"coldgan": {"sample_temperature": 0.0}}})


# ----------------------------------------------------------------------------- bounded weights
class _Judge(torch.nn.Module):
    """A discriminator that calls every row holding `token` fake and the rest real."""

    def __init__(self, token):
        super().__init__()
        self.token = token

    def forward(self, rows):
        return torch.where((rows == self.token).any(dim=1), -5.0, 5.0)


def _cold_peaked_step(ratio_cap):
    """One G step of a peaked generator (id 4 at +30 logits, the rest at 0) whose cold sampler
    (T = 0.2) drew, against odds of e^-150, the rare id 5 in one row: pi/q of that token is
    e^(-30 + 150) = e^120, beyond float32, and D gives the row a negative advantage."""
    obj = _objective(ratio_cap=ratio_cap)
    with torch.no_grad():
        obj.G.head.weight.zero_()
        obj.G.head.bias.zero_()
        obj.G.head.bias[4] = 30.0
    rows = torch.full((8, MAX_LEN + 1), 0, dtype=torch.long)
    rows[:, :3], rows[:, 3] = 4, 2  # "w w w <eos>" (ids: 4 = the mode, 2 = <eos>, 0 = <pad>)
    rows[0, 1] = 5                  # the rare token
    obj.samples = lambda n, t, ahead=1: rows[:n]
    obj.D = _Judge(5)
    return obj, obj.generator_step(_real(8), step=0)


def test_unbounded_weights_blow_up_on_a_cold_peaked_generator():
    from gantext.objectives.base import NonFiniteLoss

    with pytest.raises(NonFiniteLoss, match="generator loss"):  # PPO's min alone: A < 0, r = inf
        _cold_peaked_step(ratio_cap=float("inf"))


def test_capped_weights_keep_the_same_step_finite_and_bounded():
    obj, logs = _cold_peaked_step(ratio_cap=3.0)
    assert torch.isfinite(logs["g_loss"]) and torch.isfinite(logs["g_grad_norm"])
    # |loss| <= cap * max |A|; the rare row's A = sigmoid(-5) - sigmoid(5) ~ -0.99
    assert abs(float(logs["g_loss"])) <= 3.0 * 1.0
    assert 1.0 <= float(logs["is_ratio"]) <= 3.0  # the mean of the capped ratios


def test_cap_bounds_a_negative_advantage_and_stops_its_gradient():
    logq = torch.log(torch.tensor([[0.5, 0.5, 1e-30]]))
    logp = torch.log(torch.tensor([[0.5, 0.9, 0.1]])).requires_grad_(True)  # r = 1, 1.8, 1e29
    mask = torch.ones(1, 3)
    loss, logs = clipped_surrogate(logp, logq, torch.tensor([-1.0]), mask, eps=0.2, cap=3.0)
    assert float(loss.detach()) == pytest.approx((1.0 + 1.8 + 3.0) / 3)  # r = 1e29 counts as 3
    loss.backward()
    # below the cap: d(r * A)/d logp = r * A, negated, / 3 tokens; above it: no gradient
    torch.testing.assert_close(logp.grad, torch.tensor([[1 / 3, 1.8 / 3, 0.0]]))
    assert float(logs["is_ratio"]) == pytest.approx((1.0 + 1.8 + 3.0) / 3)
