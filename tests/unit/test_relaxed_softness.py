"""Defect 3 of issue 15: D can tell relaxed fakes from one-hot reals by softness alone.

The relaxed family logs D's pairwise accuracy on the fakes as it saw them (d_rank_soft) and on
the same samples hardened to one-hots (d_rank_hard); ``d_input: straight_through`` shows D the
one-hots while G's gradient still flows through the soft rows."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gantext.config import AdversarialConfig, params_from_dict
from gantext.models.generator import GeneratorSpec, build_generator
from gantext.objectives import OBJECTIVES, log_columns
from gantext.objectives.base import RelaxedObjective, straight_through
from _toy import toy_rows

V, MAX_LEN = 10, 6


class SoftnessD(nn.Module):
    """A discriminator that sees nothing but softness: the mean of each position's largest entry
    (1 for one-hots and ids, below 1 for any soft row). Records the float inputs it gets."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(()))
        self.seen = []

    def forward(self, x):
        if x.dim() == 2:
            x = F.one_hot(x.long(), V).float()
        else:
            self.seen.append(x.detach().clone())
        return self.w * x.max(-1).values.mean(-1)


def _real(n):
    return toy_rows(n, MAX_LEN, V)


def _objective(name, d_input="soft"):
    torch.manual_seed(0)
    g = build_generator(GeneratorSpec(vocab_size=V, embed_dim=8, hidden_dim=16, max_len=MAX_LEN))
    cfg = AdversarialConfig(loss=name, steps=10, device="cpu")
    section = OBJECTIVES[name].section
    cfg = dataclasses.replace(cfg, **{section: dataclasses.replace(getattr(cfg, section),
                                                                   d_input=d_input)})
    return OBJECTIVES[name](g, SoftnessD(), cfg, MAX_LEN, torch.device("cpu"),
                            torch.Generator().manual_seed(0))


RELAXED = sorted(n for n, c in OBJECTIVES.items() if issubclass(c, RelaxedObjective))


@pytest.mark.parametrize("name", RELAXED)
def test_softness_alone_shows_as_the_gap_between_soft_and_hard_ranks(name):
    logs = _objective(name).discriminator_step(_real(8), step=0)  # beta = 1: very soft fakes
    assert float(logs["d_rank_soft"]) == 1.0  # every soft fake scores below its one-hot real
    assert float(logs["d_rank_hard"]) == 0.0  # hardened, the same samples are indistinguishable
    assert {"d_rank_soft", "d_rank_hard"} <= set(OBJECTIVES[name].log_keys)
    assert {"d_rank_soft", "d_rank_hard"} <= set(log_columns())


@pytest.mark.parametrize("name", RELAXED)
def test_straight_through_shows_d_one_hots(name):
    soft = _objective(name)
    soft.discriminator_step(_real(8), step=0)
    assert any(float(x.max(-1).values.min()) < 1.0 for x in soft.D.seen)
    st = _objective(name, "straight_through")
    logs = st.discriminator_step(_real(8), step=0)
    fakes = st.D.seen[0]
    assert torch.equal(fakes, F.one_hot(fakes.argmax(-1), V).float())
    assert float(logs["d_rank_soft"]) == float(logs["d_rank_hard"])
    g_logs = st.generator_step(_real(8), step=0)
    assert float(g_logs["g_grad_norm"]) > 0  # G still learns through the soft rows


def test_straight_through_forward_is_one_hot_backward_is_soft():
    logits = torch.randn(2, 3, V, requires_grad=True)
    soft = torch.softmax(logits, -1)
    hard = soft.argmax(-1)
    st = straight_through(soft, hard)
    torch.testing.assert_close(st, F.one_hot(hard, V).float())
    w = torch.randn(2, 3, V)
    (g_st,) = torch.autograd.grad((st * w).sum(), logits, retain_graph=True)
    (g_soft,) = torch.autograd.grad((soft * w).sum(), logits)
    torch.testing.assert_close(g_st, g_soft)


def test_d_input_is_a_validated_param_of_every_relaxed_section():
    p = params_from_dict({"adversarial": {"bce": {"d_input": "straight_through"}}})
    assert p.adversarial.bce.d_input == "straight_through"
    with pytest.raises(Exception, match="d_input"):
        params_from_dict({"adversarial": {"rsgan": {"d_input": "hard"}}})
