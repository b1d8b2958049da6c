"""The CNN discriminator's own shortcuts (the suite every D passes, learning real vs random and
gradients into soft inputs included, is test_discriminator_archs.py): ids == one-hots, the
<pad>-tail cut, short rows, plain-spec rebuilds."""

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


def test_short_sequences_and_bad_shapes():
    d = Discriminator(DiscriminatorSpec(vocab_size=V, embed_dim=4, kernel_sizes=(2, 5), num_filters=3))
    assert d(torch.tensor([[5, EOS_ID]])).shape == (1,)  # narrower than the widest kernel
    with pytest.raises(ValueError, match="one-hots"):
        d(torch.zeros(2, 3, V + 1))


def test_plain_spec_holds_lists():
    """Checkpoints store the spec as plain data (weights-only loading): tuples become lists."""
    d = small()
    assert isinstance(d.spec_dict["kernel_sizes"], list)
    assert type(build_discriminator(d.spec_dict)) is Discriminator
