"""RSGAN (relativistic standard GAN): its losses, its params section, a run through the loop."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from gantext.config import AdversarialConfig, params_from_dict
from gantext.models.discriminator import Discriminator, DiscriminatorSpec
from gantext.models.generator import build_generator
from gantext.objectives import OBJECTIVES
from _toy import toy_rows

V, MAX_LEN = 10, 6


def _objective(**rsgan):
    torch.manual_seed(0)
    g = build_generator(dict(vocab_size=V, embed_dim=8, hidden_dim=16, max_len=MAX_LEN))
    d = Discriminator(DiscriminatorSpec(vocab_size=V, embed_dim=8, kernel_sizes=(2, 3),
                                        num_filters=6, dropout=0.0))
    cfg = AdversarialConfig(loss="rsgan", steps=10, device="cpu")
    cfg = dataclasses.replace(cfg, rsgan=dataclasses.replace(cfg.rsgan, **rsgan))
    return OBJECTIVES["rsgan"](g, d, cfg, MAX_LEN, torch.device("cpu"),
                               torch.Generator().manual_seed(0))


def _real(n):
    return toy_rows(n, MAX_LEN, V)


def test_losses_are_the_relativistic_pairs():
    obj = _objective()
    d_real, d_fake = torch.tensor([2.0, -1.0, 0.5]), torch.tensor([0.0, 1.0, 0.5])
    loss, logs = obj.d_loss(d_real, d_fake, None, None)
    torch.testing.assert_close(loss, -F.logsigmoid(d_real - d_fake).mean())
    assert float(logs["d_acc_pair"]) == pytest.approx(1 / 3)  # only the first pair is ranked real > fake
    torch.testing.assert_close(obj.g_loss(d_fake, d_real), -F.logsigmoid(d_fake - d_real).mean())
    # a constant shift of every score changes nothing: only the gap is scored
    shifted, _ = obj.d_loss(d_real + 7, d_fake + 7, None, None)
    torch.testing.assert_close(shifted, loss)


def test_generator_step_uses_reals_and_moves_only_g():
    obj = _objective()
    d_before = [p.clone() for p in obj.D.parameters()]
    logs = obj.generator_step(_real(8), step=2)
    assert torch.isfinite(logs["g_loss"]) and logs["g_grad_norm"] > 0
    assert all(torch.equal(a, b) for a, b in zip(d_before, obj.D.parameters()))
    assert all(p.grad is None for p in obj.D.parameters())


def test_mle_weight_adds_that_multiple_of_the_real_batchs_nll_to_g_loss():
    real = _real(8)
    plain, mixed = _objective(), _objective(mle_weight=0.5)
    with torch.no_grad():
        total, count = mixed.G.nll(real)  # the weights both G steps start from
    expected = float(total / count) * 0.5
    gap = float(mixed.generator_step(real, step=2)["g_loss"]
                - plain.generator_step(real, step=2)["g_loss"])
    assert gap == pytest.approx(expected, rel=1e-5)  # same seed: the same fakes and D scores
    with pytest.raises(ValueError, match="mle_weight"):
        params_from_dict({"adversarial": {"rsgan": {"mle_weight": -1.0}}})


def test_params_section_is_validated_and_selectable():
    p = params_from_dict({"adversarial": {"loss": "rsgan", "rsgan": {"beta_max": 1000.0}}})
    assert p.adversarial.rsgan.beta_max == 1000.0
    assert dataclasses.replace(p.adversarial.rsgan, g_lr=1.0).g_lr == 1.0
