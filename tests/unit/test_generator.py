"""Generator: teacher-forced NLL with a padding mask, batched sampling, Gumbel-softmax relaxation."""

import pytest
import torch
import torch.nn.functional as F

from gantext.models.generator import GeneratorSpec, build_generator
from gantext.text.vocab import BOS_ID, EOS_ID, PAD_ID

V, MAX_LEN = 12, 7


def _model(seed=0, **kw):
    torch.manual_seed(seed)
    spec = dict(vocab_size=V, embed_dim=8, hidden_dim=16, max_len=MAX_LEN)
    spec.update(kw)
    return build_generator(spec).eval()


def _rows():
    # two real rows of the encoding layout: tokens, <eos>, <pad>...
    return torch.tensor([[4, 5, 6, EOS_ID, PAD_ID, PAD_ID, PAD_ID, PAD_ID],
                         [7, EOS_ID, PAD_ID, PAD_ID, PAD_ID, PAD_ID, PAD_ID, PAD_ID]])


def _check_layout(ids, lens, max_len):
    assert ids.shape[1] == max_len + 1
    for row, n in zip(ids.tolist(), lens.tolist()):
        assert row[n] == EOS_ID
        assert all(t not in (PAD_ID, BOS_ID, EOS_ID) for t in row[:n])
        assert all(t == PAD_ID for t in row[n + 1:])


def test_token_nll_masks_padding_and_matches_stepwise():
    m = _model()
    rows = _rows()
    tok = m.token_nll(rows)
    assert tok.shape == rows.shape
    assert torch.all(tok[rows == PAD_ID] == 0) and torch.all(tok[rows != PAD_ID] > 0)
    # the same NLL from the step-by-step path (the one sampling uses)
    state, prev, manual = None, torch.full((2,), BOS_ID), torch.zeros(rows.shape)
    for t in range(rows.shape[1]):
        logits, state = m.step(prev, state)
        manual[:, t] = F.cross_entropy(logits, rows[:, t], reduction="none")
        prev = rows[:, t]
    manual[rows == PAD_ID] = 0
    torch.testing.assert_close(tok, manual, rtol=1e-5, atol=1e-5)
    s, n = m.nll(rows)  # trims the all-pad tail; same sum
    assert n == 6
    torch.testing.assert_close(s, tok.sum(), rtol=1e-5, atol=1e-5)


def test_pad_and_bos_are_never_predicted():
    m = _model()
    logits, _ = m(torch.tensor([[BOS_ID, 4, 5]]))
    probs = logits.softmax(-1)
    assert torch.all(probs[..., PAD_ID] == 0) and torch.all(probs[..., BOS_ID] == 0)
    assert torch.isfinite(logits).all()  # finite mask: no 0 * -inf NaNs downstream


def test_sample_layout_lengths_and_reproducibility():
    m = _model()
    ids, lens = m.sample(200, generator=torch.Generator().manual_seed(1))
    _check_layout(ids, lens, MAX_LEN)
    assert lens.max() <= MAX_LEN and lens.min() >= 0
    assert (lens == MAX_LEN).any()  # an untrained model hits the cap: forced <eos> at the end
    ids2, lens2 = m.sample(200, generator=torch.Generator().manual_seed(1))
    assert torch.equal(ids, ids2) and torch.equal(lens, lens2)
    ids3, _ = m.sample(200, generator=torch.Generator().manual_seed(2))
    assert not torch.equal(ids, ids3)
    # explicit max_len and chunking do not break the layout
    ids4, lens4 = m.sample(50, 3, generator=torch.Generator().manual_seed(1), batch_size=16)
    _check_layout(ids4, lens4, 3)
    assert ids4.shape == (50, 4)


def test_sample_temperature():
    m = _model()
    g = torch.Generator().manual_seed(0)
    cold, _ = m.sample(64, temperature=1e-4, generator=g)
    # near-zero temperature is greedy decoding: every row is the argmax path
    state, prev, greedy = None, torch.full((1,), BOS_ID), []
    for _ in range(MAX_LEN):
        logits, state = m.step(prev, state)
        prev = logits.argmax(-1)
        greedy.append(int(prev))
        if greedy[-1] == EOS_ID:
            break
    assert all(row[:len(greedy)] == greedy for row in cold.tolist())
    hot, _ = m.sample(64, temperature=5.0, generator=g)
    assert len(set(hot[:, 0].tolist())) > len(set(cold[:, 0].tolist()))
    with pytest.raises(ValueError):
        m.sample(2, temperature=0.0)


def test_sample_edge_cases():
    m = _model()
    ids, lens = m.sample(0)
    assert ids.shape == (0, MAX_LEN + 1) and lens.shape == (0,)
    no_len = build_generator(GeneratorSpec(vocab_size=V, embed_dim=4, hidden_dim=4))
    with pytest.raises(ValueError, match="max_len"):
        no_len.sample(2)


def test_sample_relaxed_shapes_gradients_and_layout():
    m = _model().train()
    soft, hard = m.sample_relaxed(16, MAX_LEN, beta=5.0, generator=torch.Generator().manual_seed(3))
    assert soft.shape == (16, MAX_LEN + 1, V) and hard.shape == (16, MAX_LEN + 1)
    torch.testing.assert_close(soft.sum(-1), torch.ones(16, MAX_LEN + 1))
    lens = torch.argmax((hard == EOS_ID).int(), dim=1)
    _check_layout(hard, lens, MAX_LEN)
    # before <eos>, the hard token is the argmax of the soft one; after it, exact one-hot <pad>
    for r in range(16):
        n = int(lens[r])
        assert torch.equal(soft[r, :n].argmax(-1), hard[r, :n])
        assert torch.all(soft[r, n + 1:, PAD_ID] == 1)
    assert torch.all(soft[..., BOS_ID] == 0)
    soft[..., 4].sum().backward()
    assert m.head.weight.grad is not None and torch.isfinite(m.head.weight.grad).all()
