"""scratchgan: per-prefix D, discounted per-token rewards, moving-average baseline, accumulation."""

import copy
import dataclasses

import pytest
import torch
import torch.nn.functional as F

from gantext.config import DiscriminatorConfig
from gantext.models.discriminator import build_discriminator
from gantext.objectives import OBJECTIVES
from gantext.objectives.scratchgan import discounted_returns, per_token_rewards
from gantext.text.vocab import PAD_ID
from gantext.training.adversarial import discriminator_spec
from _toy import tiny_objective, toy_rows

V, MAX_LEN = 10, 6


def test_discounted_returns_by_hand():
    r = torch.tensor([[1.0, 0.0, -1.0, 0.0], [0.5, 0.5, 0.0, 0.0]])
    got = discounted_returns(r, 0.5)
    want = torch.tensor([[1 + 0 - 0.25, 0 - 0.5, -1.0, 0.0], [0.5 + 0.25, 0.5, 0.0, 0.0]])
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(discounted_returns(r, 0.0), r)  # gamma 0: each token's own
    logits = torch.tensor([[0.0, 100.0, -100.0]])
    torch.testing.assert_close(per_token_rewards(logits, torch.tensor([[1.0, 1.0, 0.0]])),
                               torch.tensor([[0.0, 1.0, 0.0]]))


def _stub_d(obj):
    """D's per-prefix logits a known function of the rows (no weights)."""
    def scores(rows):
        pos = torch.arange(rows.shape[1], dtype=torch.float32)
        return torch.sin(rows.float() * 1.3 + pos)  # mixed signs, different per row and position
    obj.D.prefix_scores = scores
    return scores


def _hand_loss(g, batches, scores, gamma):
    """The paper's REINFORCE loss written out with loops: r_t = 2 sigmoid(D_t) - 1,
    R_t = sum_s gamma^(s-t) r_s over the row's real positions, advantage R_t - b."""
    terms, count, returns = [], 0, []
    for rows in batches:
        logp = -g.token_nll(rows)
        d = scores(rows)
        for i in range(len(rows)):
            n = int((rows[i] != PAD_ID).sum())
            r = [2 * torch.sigmoid(d[i, t]) - 1 for t in range(n)]
            for t in range(n):
                ret = sum(gamma ** (s - t) * r[s] for s in range(t, n))
                returns.append(float(ret))
                terms.append((ret, logp[i, t]))
            count += n
    return terms, count, returns


@pytest.mark.parametrize("accumulate", [1, 3])
def test_generator_gradient_is_the_hand_computed_reinforce_gradient(accumulate):
    """Sign, discount and baseline: G's accumulated gradient equals the gradient of
    -sum (R_t - b) log pi(x_t) / tokens over the effective batch, b the moving average updated
    with this batch's mean return before use; a second step moves b again."""
    obj = tiny_objective("scratchgan", accumulate=accumulate, gamma=0.5, baseline_decay=0.25)
    obj.cfg = dataclasses.replace(obj.cfg, grad_clip=1e9)  # compare the raw gradient
    scores = _stub_d(obj)
    batches = [toy_rows(5, MAX_LEN, V).roll(k, 0) for k in range(accumulate)]
    obj._pool[1.0] = torch.cat(batches)  # the rows the G step draws, in order
    g0 = copy.deepcopy(obj.G)
    terms, count, returns = _hand_loss(g0, batches, scores, 0.5)
    b = 0.75 * sum(returns) / count  # b0 = 0: 0.25 * 0 + 0.75 * mean
    hand = -sum((ret - b) * lp for ret, lp in terms) / count
    hand.backward()
    logs = obj.generator_step(toy_rows(5, MAX_LEN, V), step=0)
    assert float(logs["baseline"]) == pytest.approx(b, rel=1e-5)
    assert float(logs["g_loss"]) == pytest.approx(float(hand.detach()), rel=1e-4, abs=1e-6)
    for p, q in zip(obj.G.parameters(), g0.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-6)
    # the baseline is a moving average across steps (and part of the resume state)
    obj._pool[1.0] = torch.cat(batches)
    with torch.no_grad():
        _, _, again = _hand_loss(obj.G, batches, scores, 0.5)
    logs2 = obj.generator_step(toy_rows(5, MAX_LEN, V), step=1)
    assert float(logs2["baseline"]) == pytest.approx(0.25 * b + 0.75 * sum(again) / count, rel=1e-5)
    assert float(obj.state_dict()["baseline"]) == pytest.approx(float(logs2["baseline"]))


def test_advantage_sign_raises_the_rewarded_row():
    """A row D likes at every prefix gains probability, one it rejects loses it."""
    obj = tiny_objective("scratchgan", accumulate=1, g_lr=0.05)
    good, bad = toy_rows(2, MAX_LEN, V)[[1]], toy_rows(4, MAX_LEN, V)[[3]]
    obj.D.prefix_scores = lambda rows: torch.where(
        (rows == good[0]).all(1, keepdim=True), 5.0, -5.0).expand_as(rows).float()
    rows = torch.cat([good, bad])
    before = -obj.G.token_nll(rows).sum(1).detach()
    for _ in range(5):
        obj._pool[1.0] = rows.clone()
        obj.generator_step(rows, step=0)
    after = -obj.G.token_nll(rows).sum(1).detach()
    assert after[0] > before[0] and after[1] < before[1]


def test_discriminator_accumulates_micro_batches_into_one_update():
    """`accumulate` D calls (each a fresh real batch, as the loop hands them) make one update;
    the logged loss is the per-prefix cross-entropy of the real positions, half real half fake."""
    obj = tiny_objective("scratchgan", accumulate=2, d_l2=0.0)
    assert obj.d_steps_per_g_step == 2 * obj.ocfg.d_steps
    real = toy_rows(6, MAX_LEN, V)
    before = [p.clone() for p in obj.D.parameters()]
    obj._pool[1.0] = toy_rows(12, MAX_LEN, V).flip(0)
    fake = obj._pool[1.0][:6]
    with torch.no_grad():
        dr, df = obj.D.prefix_scores(real), obj.D.prefix_scores(fake)
    mr, mf = real != PAD_ID, fake != PAD_ID
    want = 0.5 * F.binary_cross_entropy_with_logits(dr[mr], torch.ones(int(mr.sum()))) \
        + 0.5 * F.binary_cross_entropy_with_logits(df[mf], torch.zeros(int(mf.sum())))
    logs = obj.discriminator_step(real, step=0)
    assert float(logs["d_loss"]) == pytest.approx(float(want), rel=1e-5)
    assert all(torch.equal(a, b) for a, b in zip(before, obj.D.parameters()))  # not yet
    obj.discriminator_step(toy_rows(6, MAX_LEN, V).roll(1, 0), step=0)
    assert not all(torch.equal(a, b) for a, b in zip(before, obj.D.parameters()))
    assert obj._micro == 0


def test_l2_regularises_the_discriminator():
    plain = tiny_objective("scratchgan", accumulate=1, d_l2=0.0, d_lr=0.1)
    decayed = tiny_objective("scratchgan", accumulate=1, d_l2=10.0, d_lr=0.1)
    for obj in (plain, decayed):
        for _ in range(3):
            obj.discriminator_step(toy_rows(6, MAX_LEN, V), step=0)
    norm = lambda o: sum(float((p.detach() ** 2).sum()) for p in o.D.parameters())
    assert norm(decayed) < norm(plain)


def test_needs_a_prefix_scoring_discriminator_and_the_loop_supplies_one():
    from gantext.config import AdversarialConfig
    from gantext.models.discriminator import Discriminator, DiscriminatorSpec
    from gantext.models.generator import GeneratorSpec, build_generator

    cls = OBJECTIVES["scratchgan"]
    spec = discriminator_spec(DiscriminatorConfig(), V, cls)  # the default cnn configured
    assert build_discriminator(spec).arch == "lstm"
    chosen = discriminator_spec(DiscriminatorConfig(arch="transformer"), V, cls)
    assert build_discriminator(chosen).arch == "transformer"
    g = build_generator(GeneratorSpec(vocab_size=V, embed_dim=4, hidden_dim=4, max_len=MAX_LEN))
    cnn = Discriminator(DiscriminatorSpec(vocab_size=V, embed_dim=4, kernel_sizes=(2,), num_filters=2))
    with pytest.raises(ValueError, match="scores every prefix"):
        cls(g, cnn, AdversarialConfig(loss="scratchgan"), MAX_LEN, torch.device("cpu"),
            torch.Generator())
