"""Each objective gives the generator a finite, non-zero gradient; GP and rollout rewards behave."""

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

from gantext.config import AdversarialConfig, ConfigError, params_from_dict
from gantext.models.discriminator import Discriminator, DiscriminatorSpec, build_discriminator
from gantext.models.generator import Generator, build_generator
from gantext.objectives import OBJECTIVES
from gantext.objectives.base import NonFiniteLoss, anneal
from gantext.objectives.seqgan import rollout_rewards
from gantext.objectives.wgan_gp import gradient_penalty, interpolate
from gantext.text.vocab import BOS_ID, EOS_ID, PAD_ID

V, MAX_LEN = 10, 6


#: tiny generators of each architecture the objectives are checked with
ARCHS = {"lstm": dict(hidden_dim=16),
         "transformer": dict(d_model=8, num_layers=2, num_heads=2, ff_dim=16, max_len=MAX_LEN)}


def models(seed: int = 0, arch: str = "lstm") -> tuple[Generator, Discriminator]:
    torch.manual_seed(seed)
    g = build_generator(dict(arch=arch, vocab_size=V, embed_dim=8, **ARCHS[arch]))
    d = Discriminator(DiscriminatorSpec(vocab_size=V, embed_dim=8, kernel_sizes=(2, 3), num_filters=6))
    return g, d


def real_rows(n: int) -> torch.Tensor:
    rows = torch.full((n, MAX_LEN + 1), PAD_ID, dtype=torch.long)
    for i in range(n):
        length = 2 + i % (MAX_LEN - 1)
        rows[i, :length] = 4 + (i + torch.arange(length)) % (V - 4)
        rows[i, length] = EOS_ID
    return rows


def objective(name: str, arch: str = "lstm", **seqgan):
    cfg = AdversarialConfig(loss=name, steps=10, device="cpu")
    cfg = dataclasses.replace(cfg, seqgan=dataclasses.replace(cfg.seqgan, n_rollouts=2, **seqgan))
    g, d = models(arch=arch)
    if OBJECTIVES[name].prefix_discriminator:  # an objective that needs a score per prefix
        d = build_discriminator({"arch": OBJECTIVES[name].prefix_discriminator, "vocab_size": V,
                                 "embed_dim": 8, "hidden_dim": 12})
    return OBJECTIVES[name](g, d, cfg, MAX_LEN, torch.device("cpu"), torch.Generator().manual_seed(0))


@pytest.mark.parametrize("arch", sorted(ARCHS))
@pytest.mark.parametrize("name", sorted(OBJECTIVES))
def test_generator_gradient_is_finite_and_nonzero(name, arch):
    obj = objective(name, arch)
    logs = obj.generator_step(real_rows(8), step=3)
    grads = [p.grad for p in obj.G.parameters() if p.grad is not None]
    assert grads, "no generator parameter received a gradient"
    total = torch.sqrt(sum((g.double() ** 2).sum() for g in grads))
    assert torch.isfinite(total) and total > 0
    assert math.isfinite(logs["g_loss"]) and logs["g_grad_norm"] > 0
    assert all(p.grad is None for p in obj.D.parameters()), "a G step must not touch D's grads"


@pytest.mark.parametrize("name", sorted(n for n, c in OBJECTIVES.items() if c.d_steps_per_g_step))
def test_discriminator_step_logs_finite_values(name):
    obj = objective(name)
    logs = obj.discriminator_step(real_rows(8), step=0)
    assert logs and all(math.isfinite(v) for v in logs.values())
    # the keys an objective declares are the ones it logs (they become the plot columns)
    assert {"d_loss", "d_grad_norm"} <= set(logs) <= {"d_loss", "d_grad_norm", *OBJECTIVES[name].log_keys}
    assert set(OBJECTIVES[name].log_keys) <= set(logs) | set(obj.generator_step(real_rows(8), 0))


def test_gradient_penalty_is_zero_for_a_unit_lipschitz_critic():
    g = torch.Generator().manual_seed(0)
    real = F.one_hot(real_rows(4), V).float()
    fake = torch.softmax(torch.randn(real.shape, generator=g), -1)
    w = torch.randn(real.shape[1:], generator=g)
    alpha = torch.rand(4, generator=g)
    unit = lambda x: (x * (w / w.norm())).flatten(1).sum(1)  # gradient norm exactly 1 everywhere
    x_hat = interpolate(real, fake, alpha)
    assert gradient_penalty(unit, x_hat).item() == pytest.approx(0.0, abs=1e-10)
    double = lambda x: (x * (2 * w / w.norm())).flatten(1).sum(1)
    assert gradient_penalty(double, x_hat).item() == pytest.approx(1.0, rel=1e-5)


def test_seqgan_rewards_in_unit_interval_with_batch_by_length_shape():
    g, d = models()
    g.eval(), d.eval()
    samples, _ = g.sample(7, MAX_LEN, 1.0, torch.Generator().manual_seed(1))
    rewards = rollout_rewards(g, d, samples, n_rollouts=3, rollout_batch=5,
                              rng=torch.Generator().manual_seed(2))
    assert rewards.shape == samples.shape == (7, MAX_LEN + 1)
    assert (rewards >= 0).all() and (rewards <= 1).all()
    assert (rewards[samples == PAD_ID] == 0).all() and (rewards[samples != PAD_ID] > 0).all()
    last = (samples != PAD_ID).sum(1) - 1
    with torch.no_grad():
        full = torch.sigmoid(d(samples))
    assert torch.allclose(rewards[torch.arange(7), last], full)


def greedy_reference(g: Generator, d: Discriminator, samples: torch.Tensor) -> torch.Tensor:
    """Per prefix, a plain loop: re-run the prefix, complete greedily, score the row."""
    out = torch.zeros(samples.shape)
    width = samples.shape[1]
    for i, row in enumerate(samples):
        length = int((row != PAD_ID).sum()) - 1
        for j in range(length + 1):
            seq = row.clone()
            if j < length:
                seq[j + 1:] = PAD_ID
                logits, state = g.step(torch.tensor([BOS_ID]), None)
                for t in range(j + 1):
                    logits, state = g.step(seq[t:t + 1], state)
                for t in range(j + 1, width):
                    tok = EOS_ID if t == width - 1 else int(logits.argmax())
                    seq[t] = tok
                    if tok == EOS_ID:
                        break
                    logits, state = g.step(torch.tensor([tok]), state)
            out[i, j] = torch.sigmoid(d(seq[None]))[0]
    return out


@pytest.mark.parametrize("arch", sorted(ARCHS))
@torch.no_grad()
def test_batched_rollouts_match_a_plain_loop_for_a_deterministic_policy(arch):
    g, d = models(3, arch)
    g.eval(), d.eval()
    g.head.weight.mul_(1e4)  # logit gaps dwarf the Gumbel noise: sampling == greedy decoding
    g.head.bias.mul_(1e4)
    samples = real_rows(5)
    want = greedy_reference(g, d, samples)
    for chunk in (3, 10_000):  # chunking must not change the result
        got = rollout_rewards(g, d, samples, n_rollouts=2, rollout_batch=chunk,
                              rng=torch.Generator().manual_seed(0))
        assert torch.allclose(got, want, atol=1e-6)


def test_seqgan_rollout_copy_is_delayed():
    obj = objective("seqgan")
    before = [p.clone() for p in obj.rollout.parameters()]
    obj.generator_step(real_rows(4), step=0)
    for r, b, g in zip(obj.rollout.parameters(), before, obj.G.parameters()):
        assert torch.allclose(r, 0.8 * b + 0.2 * g.detach())


def test_seqgan_prepare_pretrains_the_discriminator():
    obj = objective("seqgan", d_pretrain_steps=3)
    before = [p.clone() for p in obj.D.parameters()]
    logs = obj.prepare(iter([real_rows(4)] * 10))
    assert "pretrain_d_loss" in logs
    assert any(not torch.equal(b, p) for b, p in zip(before, obj.D.parameters()))


def test_nonfinite_loss_is_refused_before_the_weights_change():
    obj = objective("bce")
    before = [p.clone() for p in obj.G.parameters()]
    loss = obj.G.head.weight.sum() * float("nan")
    with pytest.raises(NonFiniteLoss, match="generator loss is nan"):
        obj.update(obj.g_opt, obj.G, loss, "generator loss")
    assert all(torch.equal(b, p) for b, p in zip(before, obj.G.parameters()))


def test_temperature_schedules():
    assert anneal(100.0, "exp", 0, 10) == 1.0
    assert anneal(100.0, "exp", 5, 10) == pytest.approx(10.0)
    assert anneal(100.0, "exp", 10, 10) == pytest.approx(100.0)
    assert anneal(100.0, "linear", 5, 10) == pytest.approx(50.5)
    assert anneal(100.0, "constant", 0, 10) == 100.0
    assert objective("seqgan").temperature(5) == 1.0


def test_wgan_gp_uses_its_own_adam_betas_and_n_critic():
    obj = objective("wgan-gp")
    assert obj.d_opt.param_groups[0]["betas"] == (0.5, 0.9)
    assert obj.d_steps_per_g_step == obj.cfg.wgan_gp.n_critic == 3


def test_unknown_loss_lists_the_valid_ones():
    with pytest.raises(ConfigError, match=", ".join(sorted(OBJECTIVES))):
        params_from_dict({"adversarial": {"loss": "hinge"}})


@pytest.mark.parametrize("name", ["seqgan", "coldgan"])
def test_fakes_of_a_round_come_from_one_draw_of_the_current_generator(name):
    """The D steps of a round (and SeqGAN's G step) take their fakes from one decoding pass;
    the pool is empty again once G updates, so no row from an older G is ever served, and D
    pretraining leaves nothing behind."""
    def build():
        if name == "seqgan":
            return objective(name)
        cfg = AdversarialConfig(loss=name, steps=10, device="cpu")  # two D steps a round
        cfg = dataclasses.replace(cfg, coldgan=dataclasses.replace(cfg.coldgan, d_steps=2))
        return OBJECTIVES[name](*models(), cfg, MAX_LEN, torch.device("cpu"),
                                torch.Generator().manual_seed(0))

    obj = build()
    state = obj.rng.get_state()
    obj.discriminator_step(real_rows(4), step=0)  # draws the round's rows
    assert obj._pool  # the rest of the round's rows wait for the next step(s)
    obj.rng.set_state(state)
    rounds = obj.d_steps_per_g_step + (name == "seqgan")
    whole, _ = obj.G.sample(4 * rounds, MAX_LEN, 1.0, torch.Generator().set_state(state))
    left = torch.cat(list(obj._pool.values()))
    assert torch.equal(left, whole[4:])
    for _ in range(obj.d_steps_per_g_step - 1):
        obj.discriminator_step(real_rows(4), step=0)
    obj.generator_step(real_rows(4), step=0)
    assert not obj._pool  # G changed: the next round draws afresh
    obj._pool = {1.0: whole[:4]}
    restored = build()
    restored.load_state_dict(obj.state_dict())
    assert torch.equal(restored._pool[1.0], whole[:4])
    obj._pool.clear()
    obj.prepare(iter([real_rows(4)] * 10))
    assert not obj._pool and obj._pretraining == 0


def test_mle_continued_control_trains_g_on_real_rows_without_d():
    """The control row: each generator step lowers the MLE loss of real rows; D is untouched."""
    obj = objective("mle-continued")
    assert obj.d_steps_per_g_step == 0 and obj.d_opt is None
    rows, d_before = real_rows(8), [p.clone() for p in obj.D.parameters()]
    losses = [float(obj.generator_step(rows, step=i)["g_loss"]) for i in range(30)]
    assert losses[-1] < losses[0]
    assert all(torch.equal(a, b) for a, b in zip(d_before, obj.D.parameters()))
    assert obj.state_dict()["d_opt"] is None
