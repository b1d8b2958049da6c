"""reverse-kl: REINFORCE with D's clipped logit as the reward, optional KL anchor to the MLE."""

import pytest
import torch

from gantext.config import params_from_dict
from gantext.objectives.coldgan import leave_one_out
from gantext.text.vocab import PAD_ID
from _toy import tiny_objective, toy_rows

V, MAX_LEN = 10, 6


def _objective(**kw):
    return tiny_objective("reverse-kl", **kw)


def test_loss_is_reinforce_with_the_clipped_logit_and_a_leave_one_out_baseline():
    obj = _objective(reward_clip=0.05)
    real = toy_rows(8, MAX_LEN, V)
    logits = torch.linspace(-1.0, 1.0, 8)
    obj.D.forward = lambda x: logits[: len(x)]  # a D whose logits are known
    obj._pool[1.0] = toy_rows(8, MAX_LEN, V).flip(0)  # the rows the G step will use
    samples = obj._pool[1.0].clone()
    with torch.no_grad():
        logp = -obj.G.token_nll(samples)
    adv = leave_one_out(logits.clamp(-0.05, 0.05))
    mask = (samples != PAD_ID).float()
    expected = -(logp * adv[:, None]).sum() / mask.sum()
    logs = obj.generator_step(real, step=0)
    assert float(logs["g_loss"]) == pytest.approx(float(expected), rel=1e-5)
    assert float(logs["mean_reward"]) == pytest.approx(0.0, abs=1e-6)  # clipped, symmetric
    assert float(logs["kl_ref"]) == 0.0  # no anchor by default


def test_generator_step_moves_only_g_and_d_step_logs_accuracies():
    obj = _objective()
    real = toy_rows(8, MAX_LEN, V)
    d_before = [p.clone() for p in obj.D.parameters()]
    g_before = [p.clone() for p in obj.G.parameters()]
    d_logs = obj.discriminator_step(real, step=0)
    assert {"d_acc_real", "d_acc_fake", "d_loss"} <= set(d_logs)
    assert not all(torch.equal(a, b) for a, b in zip(d_before, obj.D.parameters()))
    d_mid = [p.clone() for p in obj.D.parameters()]
    logs = obj.generator_step(real, step=0)
    assert torch.isfinite(logs["g_loss"]) and logs["g_grad_norm"] > 0
    assert all(torch.equal(a, b) for a, b in zip(d_mid, obj.D.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(g_before, obj.G.parameters()))


@pytest.mark.parametrize("name", ["reverse-kl", "seqgan", "coldgan"])
def test_d_learns_from_samples_at_d_temperature_and_g_never_gets_them(name):
    """d_temperature (every sampled-D objective): D's fakes are drawn at it; the G step's rows
    come from its own temperature (1; coldgan: the cold sampler), never from D's hotter pool."""
    obj = tiny_objective(name, d_temperature=1.5)
    drawn = []
    sample = obj.G.sample

    def spy(n, max_len, temperature, *args, **kwargs):
        drawn.append(temperature)
        return sample(n, max_len, temperature, *args, **kwargs)

    obj.G.sample = spy
    real = toy_rows(8, MAX_LEN, V)
    obj.discriminator_step(real, step=0)
    assert drawn == [1.5] and set(obj._pool) <= {1.5}  # what is left of the round's draw
    obj.generator_step(real, step=0)
    assert drawn[1] == obj.g_temperature != 1.5
    # at the G step's own temperature, one draw serves the round's D steps and the G step
    same = tiny_objective(name, d_temperature=obj.g_temperature)
    same.discriminator_step(real, step=0)
    assert len(same._pool[same.g_temperature]) == 8 * same.d_steps_per_g_step


def test_kl_anchor_is_zero_at_the_start_and_grows_as_g_moves():
    obj = _objective(kl_weight=1.0, g_lr=0.05)
    real = toy_rows(8, MAX_LEN, V)
    first = obj.generator_step(real, step=0)
    assert float(first["kl_ref"]) == pytest.approx(0.0, abs=1e-5)  # G == ref before its update
    for _ in range(3):
        later = obj.generator_step(real, step=1)
    assert abs(float(later["kl_ref"])) > 1e-4
    # the reference stays the starting checkpoint, and it survives a save/load
    state = obj.state_dict()
    other = _objective(kl_weight=1.0)
    other.load_state_dict(state)
    for a, b in zip(other.ref.parameters(), obj.ref.parameters()):
        assert torch.equal(a, b)


def test_params_section():
    p = params_from_dict({"adversarial": {"loss": "reverse-kl", "reverse_kl": {"kl_weight": 0.5}}})
    assert p.adversarial.reverse_kl.kl_weight == 0.5
    with pytest.raises(Exception, match="reward_clip"):
        params_from_dict({"adversarial": {"reverse_kl": {"reward_clip": 0.0}}})
