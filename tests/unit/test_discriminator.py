"""The CNN discriminator: learns real vs random, ids == one-hots, gradients reach soft inputs."""

import pytest
import torch
import torch.nn.functional as F

from gantext.models.discriminator import Discriminator, DiscriminatorSpec, build_discriminator
from gantext.text.vocab import EOS_ID, PAD_ID

V, W = 12, 9


def structured(n: int, g: torch.Generator) -> torch.Tensor:
    """'Real' rows: an ascending run of tokens from a random start, then <eos>, then <pad>."""
    rows = torch.full((n, W), PAD_ID, dtype=torch.long)
    for i in range(n):
        length = int(torch.randint(3, W, (1,), generator=g))
        start = int(torch.randint(4, V, (1,), generator=g))
        rows[i, :length] = 4 + (start - 4 + torch.arange(length)) % (V - 4)
        rows[i, length] = EOS_ID
    return rows


def uniform(n: int, g: torch.Generator) -> torch.Tensor:
    """Uniform-random tokens with the same length distribution."""
    rows = structured(n, g)
    real = (rows >= 4)
    rows[real] = torch.randint(4, V, (int(real.sum()),), generator=g)
    return rows


def small(**kw) -> Discriminator:
    torch.manual_seed(0)
    return Discriminator(DiscriminatorSpec(vocab_size=V, embed_dim=8, kernel_sizes=(2, 3),
                                           num_filters=8, **kw))


def test_separates_real_from_uniform_random():
    g = torch.Generator().manual_seed(0)
    d = small()
    opt = torch.optim.Adam(d.parameters(), lr=1e-2)
    for _ in range(40):
        real, fake = structured(32, g), uniform(32, g)
        loss = (F.binary_cross_entropy_with_logits(d(real), torch.ones(32))
                + F.binary_cross_entropy_with_logits(d(fake), torch.zeros(32)))
        opt.zero_grad()
        loss.backward()
        opt.step()
    d.eval()
    with torch.no_grad():
        acc = ((d(structured(200, g)) > 0).float().mean() + (d(uniform(200, g)) < 0).float().mean()) / 2
    assert acc > 0.9


@pytest.mark.parametrize("sn", [False, True])
def test_ids_and_one_hots_score_identically(sn):
    d = small(spectral_norm=sn).eval()
    ids = uniform(5, torch.Generator().manual_seed(1))
    with torch.no_grad():  # ids skip the all-<pad> tail windows; one-hots convolve them all
        assert torch.allclose(d(ids), d(F.one_hot(ids, V).float()), atol=1e-6)
    assert d(ids).shape == (5,)


def test_pad_tail_shortcut_is_exact_in_value_and_gradient():
    ids = uniform(6, torch.Generator().manual_seed(3))
    ids[:, 5:] = PAD_ID  # a long all-<pad> tail
    ids[:, 4] = EOS_ID
    d = small()
    d.eval()
    fast = d(ids)
    (g_fast,) = torch.autograd.grad(fast.sum(), d.embedding)
    full = d(F.one_hot(ids, V).float())
    (g_full,) = torch.autograd.grad(full.sum(), d.embedding)
    assert torch.allclose(fast, full, atol=1e-6)
    assert torch.allclose(g_fast, g_full, atol=1e-6)


def test_gradient_flows_into_soft_inputs():
    d = small()
    soft = torch.softmax(torch.randn(4, W, V), -1).requires_grad_(True)
    d(soft).sum().backward()
    assert soft.grad is not None and torch.isfinite(soft.grad).all() and soft.grad.abs().sum() > 0


def test_short_sequences_and_bad_shapes():
    d = Discriminator(DiscriminatorSpec(vocab_size=V, embed_dim=4, kernel_sizes=(2, 5), num_filters=3))
    assert d(torch.tensor([[5, EOS_ID]])).shape == (1,)  # narrower than the widest kernel
    with pytest.raises(ValueError, match="one-hots"):
        d(torch.zeros(2, 3, V + 1))


@pytest.mark.parametrize("sn", [False, True])
def test_rebuild_from_plain_spec(sn):
    d = small(spectral_norm=sn)
    again = build_discriminator(d.spec_dict)
    again.load_state_dict(d.state_dict())
    ids = uniform(3, torch.Generator().manual_seed(2))
    d.eval(), again.eval()
    with torch.no_grad():
        assert torch.equal(d(ids), again(ids))
    assert isinstance(d.spec_dict["kernel_sizes"], list)
