"""The objective registry is the single source: params sections, plot columns, D settings; and the
defect fixes of the adversarial phase (no generator dropout, one-sided smoothing, LOO baseline)."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from gantext.config import AdversarialConfig, ConfigError, DiscriminatorConfig, params_from_dict
from gantext.models.discriminator import Discriminator, DiscriminatorSpec
from gantext.models.generator import build_generator
from gantext.objectives import OBJECTIVES, log_columns, objective_sections
from gantext.objectives.base import RelaxedObjective
from gantext.objectives.seqgan import leave_one_out_baseline
from gantext.training.adversarial import discriminator_spec, plot_columns

V, MAX_LEN = 10, 6


def test_every_objective_section_is_a_validated_params_section():
    fields = {f.name: f.type for f in dataclasses.fields(AdversarialConfig)}
    for name, cls in objective_sections().items():
        assert fields[name] is cls
        data = {"adversarial": {name: {"no_such_knob": 1}}}
        with pytest.raises(ConfigError, match=rf"unknown params key 'adversarial\.{name}\.no_such_knob'"):
            params_from_dict(data)
    for loss, cls in OBJECTIVES.items():  # each objective reads its own section
        assert isinstance(getattr(AdversarialConfig(loss=loss), cls.section), cls.config)


def test_plot_columns_are_the_union_of_the_registered_log_keys():
    cols = plot_columns()
    assert cols[0] == "step" and len(set(cols)) == len(cols)
    for cls in OBJECTIVES.values():
        assert set(cls.log_keys) <= set(cols)
    assert set(cols) == {"step", *log_columns()}
    assert {"d_loss", "g_loss", "beta", "d_grad_norm", "g_grad_norm"} <= set(cols)


def test_the_wgan_gp_critic_has_no_dropout_and_other_objectives_keep_the_params_value():
    dcfg = DiscriminatorConfig(dropout=0.3)
    assert discriminator_spec(dcfg, V, OBJECTIVES["wgan-gp"]).dropout == 0.0
    assert discriminator_spec(dcfg, V, OBJECTIVES["bce"]).dropout == 0.3
    assert discriminator_spec(dcfg, V, OBJECTIVES["seqgan"]).dropout == 0.3


def _relaxed(name: str, **section):
    cfg = AdversarialConfig(loss=name, steps=10, device="cpu")
    cls = OBJECTIVES[name]
    cfg = dataclasses.replace(cfg, **{cls.section: dataclasses.replace(getattr(cfg, cls.section),
                                                                       **section)})
    torch.manual_seed(0)
    g = build_generator(dict(vocab_size=V, embed_dim=8, hidden_dim=16, max_len=MAX_LEN))
    d = Discriminator(DiscriminatorSpec(vocab_size=V, embed_dim=8, kernel_sizes=(2, 3),
                                        num_filters=6, dropout=0.0))
    return cls(g, d, cfg, MAX_LEN, torch.device("cpu"), torch.Generator().manual_seed(0))


def test_label_smoothing_is_one_sided():
    obj = _relaxed("bce", label_smoothing=True)
    d_real, d_fake = torch.tensor([0.3, -1.0]), torch.tensor([0.5, 2.0])
    loss, _ = obj.d_loss(d_real, d_fake, None, None)
    want = (F.binary_cross_entropy_with_logits(d_real, torch.full((2,), 0.9))
            + F.binary_cross_entropy_with_logits(d_fake, torch.zeros(2)))  # fakes keep target 0
    torch.testing.assert_close(loss, want)


def test_relaxed_objectives_are_their_two_hooks():
    for name, cls in OBJECTIVES.items():
        if issubclass(cls, RelaxedObjective):
            assert "d_loss" in vars(cls) and "g_loss" in vars(cls), name
            assert "discriminator_step" not in vars(cls) and "generator_step" not in vars(cls)


def test_leave_one_out_baseline_excludes_the_row_itself():
    rewards = torch.tensor([[0.2, 0.4, 0.0], [0.6, 0.8, 0.0], [1.0, 0.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    got = leave_one_out_baseline(rewards, mask)
    want = torch.zeros_like(rewards)
    for i in range(3):
        for t in range(3):
            others = [rewards[j, t] for j in range(3) if j != i and mask[j, t] > 0]
            want[i, t] = sum(others) / len(others) if others else 0.0
    torch.testing.assert_close(got, want)


def test_set_dropout_zero_keeps_train_mode_and_makes_the_generator_deterministic():
    torch.manual_seed(0)
    g = build_generator(dict(vocab_size=V, embed_dim=8, hidden_dim=16, num_layers=2, dropout=0.5,
                             max_len=MAX_LEN)).train()
    rows = torch.tensor([[4, 5, 6, 2, 0, 0, 0]])
    assert not torch.equal(g.token_nll(rows), g.token_nll(rows))  # dropout on: two masks
    g.set_dropout(0.0)
    assert g.training
    assert torch.equal(g.token_nll(rows), g.token_nll(rows))
