"""The discriminator suite every registered architecture passes (the CNN's own shortcuts are in
test_discriminator.py): learns real vs random, ids == one-hots, gradients reach soft inputs,
score_embedded is the score, WGAN-GP's embedded penalty, per-prefix scores, checkpoints."""

import copy

import pytest
import torch
import torch.nn.functional as F

from gantext.config import ConfigError, params_from_dict
from gantext.models.discriminator import DISCRIMINATORS, build_discriminator
from gantext.objectives.wgan_gp import embedded_gradient_penalty, gradient_penalty, interpolate
from gantext.training.adversarial import discriminator_spec
from test_discriminator import V, W, structured, uniform

#: tiny settings per architecture (every registered one must be listed)
TINY = {"cnn": dict(kernel_sizes=(2, 3), num_filters=8),
        "lstm": dict(hidden_dim=12),
        "transformer": dict(d_model=8, num_layers=2, num_heads=2, ff_dim=16)}


@pytest.fixture(params=sorted(DISCRIMINATORS))
def arch(request):
    return request.param


def small(arch, seed=0, **kw):
    torch.manual_seed(seed)
    return build_discriminator({"arch": arch, "vocab_size": V, "embed_dim": 8, **TINY[arch], **kw})


def test_every_architecture_is_in_the_suite():
    assert set(TINY) == set(DISCRIMINATORS)


def test_separates_real_from_uniform_random(arch):
    g = torch.Generator().manual_seed(0)
    d = small(arch)
    opt = torch.optim.Adam(d.parameters(), lr=1e-2)
    for _ in range(120):
        real, fake = structured(32, g), uniform(32, g)
        loss = (F.binary_cross_entropy_with_logits(d(real), torch.ones(32))
                + F.binary_cross_entropy_with_logits(d(fake), torch.zeros(32)))
        opt.zero_grad()
        loss.backward()
        opt.step()
    d.eval()
    with torch.no_grad():
        acc = ((d(structured(200, g)) > 0).float().mean() + (d(uniform(200, g)) < 0).float().mean()) / 2
    assert acc > 0.8


@pytest.mark.parametrize("sn", [False, True])
def test_ids_one_hots_and_embeddings_score_identically(arch, sn):
    d = small(arch, spectral_norm=sn).eval()
    ids = uniform(5, torch.Generator().manual_seed(1))
    with torch.no_grad():
        by_ids = d(ids)
        torch.testing.assert_close(d(F.one_hot(ids, V).float()), by_ids, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(d.score_embedded(d.embed(ids)), by_ids, rtol=1e-5, atol=1e-6)
    assert by_ids.shape == (5,)


def test_gradient_flows_into_soft_inputs(arch):
    d = small(arch)
    soft = torch.softmax(torch.randn(4, W, V), -1).requires_grad_(True)
    d(soft).sum().backward()
    assert soft.grad is not None and torch.isfinite(soft.grad).all() and soft.grad.abs().sum() > 0


@pytest.mark.parametrize("sn", [False, True])
def test_embedded_penalty_equals_the_one_hot_penalty(arch, sn):
    """WGAN-GP works with every D: the penalty through the embedding's Gram matrix (the critic's
    embedding space) equals the paper's on the (B, T, V) one-hot interpolates, computed the
    direct way here: the same value and the same gradient for every critic weight (the
    embedding's included; double backward through each arch, spectral norm or not)."""
    d = small(arch, dropout=0.0, spectral_norm=sn)
    g = torch.Generator().manual_seed(1)
    real = structured(5, g)
    fake = torch.softmax(3 * torch.randn(5, W, V, generator=g), -1)
    alpha = torch.rand(5, generator=g)

    def grads(penalty_of):
        critic = copy.deepcopy(d)  # spectral norm's power iteration updates its state per call
        penalty = penalty_of(critic)
        penalty.backward()
        return penalty.detach(), [torch.zeros_like(p) if p.grad is None else p.grad.clone()
                                  for p in critic.parameters()]

    hot = F.one_hot(real, V).float()
    direct = grads(lambda c: gradient_penalty(c, interpolate(hot, fake, alpha)))
    embedded = grads(lambda c: embedded_gradient_penalty(c, real, fake, alpha))
    assert direct[0] > 0.01  # a penalty far from 0, so the comparison means something
    torch.testing.assert_close(embedded[0], direct[0], rtol=1e-4, atol=1e-6)
    assert len(embedded[1]) == len(direct[1])
    for a, b in zip(embedded[1], direct[1]):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-5)


def test_prefix_scores_see_only_the_prefix(arch):
    """Where an arch scores prefixes, the score at t is the score of the row cut after t (and
    does not change when later tokens do); the row's score is the last column's."""
    d = small(arch).eval()
    ids = uniform(4, torch.Generator().manual_seed(2))
    if not d.scores_prefixes:
        with pytest.raises(NotImplementedError, match="whole rows"):
            d.prefix_scores(ids)
        return
    with torch.no_grad():
        per = d.prefix_scores(ids)
        assert per.shape == ids.shape
        torch.testing.assert_close(per[:, -1], d(ids), rtol=1e-5, atol=1e-6)
        for t in (0, 3, W - 2):
            torch.testing.assert_close(per[:, t], d(ids[:, :t + 1]), rtol=1e-5, atol=1e-5)
        other = ids.clone()
        other[:, 5:] = 4
        torch.testing.assert_close(d.prefix_scores(other)[:, :5], per[:, :5], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("sn", [False, True])
def test_rebuild_from_plain_spec(arch, sn):
    d = small(arch, spectral_norm=sn)
    assert d.spec_dict["arch"] == arch
    again = build_discriminator(d.spec_dict)
    again.load_state_dict(d.state_dict())
    ids = uniform(3, torch.Generator().manual_seed(2))
    d.eval(), again.eval()
    with torch.no_grad():
        assert torch.equal(d(ids), again(ids))


def test_specs_without_arch_are_cnns():
    spec = {"vocab_size": V, "embed_dim": 4, "kernel_sizes": [2], "num_filters": 3}
    assert build_discriminator(spec).arch == "cnn"


def test_config_picks_the_arch_and_the_objective_its_settings(arch):
    p = params_from_dict({"model": {"discriminator": {"arch": arch, "embed_dim": 8}}})
    spec = discriminator_spec(p.model.discriminator, V)
    assert build_discriminator(spec).arch == arch and spec.embed_dim == 8
    from gantext.objectives import OBJECTIVES

    critic = discriminator_spec(p.model.discriminator, V, OBJECTIVES["wgan-gp"])
    assert critic.dropout == 0.0 and type(critic) is type(spec)


def test_unknown_arch_lists_the_valid_ones():
    with pytest.raises(ConfigError, match="cnn, lstm, transformer"):
        params_from_dict({"model": {"discriminator": {"arch": "gru"}}})


@pytest.mark.parametrize("loss", sorted(__import__("gantext.objectives", fromlist=["x"]).OBJECTIVES))
@pytest.mark.parametrize("d_arch", ["lstm", "transformer"])
def test_every_objective_steps_with_every_discriminator(loss, d_arch):
    """Objectives are unchanged by the D they get: a D step and a G step, finite, with G's
    gradient reaching it (relaxed losses: through D's soft-input path)."""
    import dataclasses
    import math

    from gantext.config import AdversarialConfig
    from gantext.objectives import OBJECTIVES
    from test_objectives import MAX_LEN, models, real_rows

    cfg = AdversarialConfig(loss=loss, steps=10, device="cpu")
    cfg = dataclasses.replace(cfg, seqgan=dataclasses.replace(cfg.seqgan, n_rollouts=2))
    g, _ = models()
    d = build_discriminator({"arch": d_arch, "vocab_size": g.spec.vocab_size, "embed_dim": 8,
                             **TINY[d_arch]})
    obj = OBJECTIVES[loss](g, d, cfg, MAX_LEN, torch.device("cpu"), torch.Generator().manual_seed(0))
    logs = obj.discriminator_step(real_rows(8), 0) if obj.d_steps_per_g_step else {}
    logs |= obj.generator_step(real_rows(8), 0)
    assert all(math.isfinite(float(v)) for v in logs.values())
    assert float(logs["g_grad_norm"]) > 0
