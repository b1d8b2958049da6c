"""The generator suite every architecture passes: teacher-forced NLL with a padding mask,
stepwise decoding and state indexing, the shared sampler, Gumbel-softmax relaxation, checkpoints."""

import pytest
import torch
import torch.nn.functional as F

from gantext.models import sampling
from gantext.models.generator import GENERATORS, build_generator
from gantext.text.vocab import BOS_ID, EOS_ID, PAD_ID

V, MAX_LEN = 12, 7


#: tiny settings per architecture (every registered one must be listed: the suite covers them all)
TINY = {"lstm": dict(hidden_dim=16), "relational-memory": dict(mem_slots=2, num_heads=2, head_size=4),
        "transformer": dict(d_model=8, num_layers=2, num_heads=2, ff_dim=16)}


@pytest.fixture(params=sorted(GENERATORS), autouse=True)
def arch(request):
    global ARCH
    ARCH = request.param
    return request.param


def _spec(**kw):
    return {"arch": ARCH, "vocab_size": V, "embed_dim": 8, "max_len": MAX_LEN, **TINY[ARCH], **kw}


def _model(seed=0, **kw):
    torch.manual_seed(seed)
    return build_generator(_spec(**kw)).eval()


def test_every_architecture_is_in_the_suite():
    assert set(TINY) == set(GENERATORS)


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
    with pytest.raises(ValueError, match="max_len"):  # at sampling, or at build (transformer)
        build_generator(_spec(max_len=None)).sample(2)


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


def test_state_indexing_equals_decoding_the_subset():
    m = _model()
    first, second = torch.tensor([4, 5, 6, 7]), torch.tensor([7, 6, 5, 4])
    _, state = m.step(first, None)
    want, _ = m.step(second, state)
    idx = torch.tensor([2, 0])
    got, _ = m.step(second[idx], m.index_state(state, idx))
    torch.testing.assert_close(got, want[idx], rtol=1e-5, atol=1e-5)
    mask = torch.tensor([False, True, False, True])
    got, _ = m.step(second[mask], m.index_state(state, mask))
    torch.testing.assert_close(got, want[mask], rtol=1e-5, atol=1e-5)
    both = m.cat_states([m.index_state(state, torch.tensor([3])), m.index_state(state, torch.tensor([1]))])
    got, _ = m.step(second[[3, 1]], both)
    torch.testing.assert_close(got, want[[3, 1]], rtol=1e-5, atol=1e-5)


def test_checkpoint_stores_the_architecture_and_rebuilds_it(tmp_path):
    from gantext.training.checkpoint import load_generator, save_generator

    m = _model()
    save_generator(tmp_path / "g.pt", m, "hash")
    back, payload = load_generator(tmp_path / "g.pt")
    assert payload["spec"]["arch"] == ARCH and type(back) is type(m)
    g1, g2 = torch.Generator().manual_seed(4), torch.Generator().manual_seed(4)
    assert torch.equal(m.sample(20, generator=g1)[0], back.sample(20, generator=g2)[0])


def test_set_dropout_zero_in_train_mode_is_deterministic():
    m = _model(dropout=0.5).train()
    rows = _rows()
    assert not torch.equal(m.token_nll(rows), m.token_nll(rows))
    m.set_dropout(0.0)
    assert m.training and torch.equal(m.token_nll(rows), m.token_nll(rows))


def test_deferred_compaction_gives_the_same_samples(monkeypatch):
    """Accelerators compact the batch every few steps (no per-step host sync); finished rows
    idle in between. The uniforms are per (row, position), so the samples are the same."""
    m = _model()
    eager = m.sample(64, generator=torch.Generator().manual_seed(5))
    monkeypatch.setattr(sampling, "sync_every", lambda device: 3)
    lazy = m.sample(64, generator=torch.Generator().manual_seed(5))
    assert torch.equal(eager[0], lazy[0]) and torch.equal(eager[1], lazy[1])
    soft_e, hard_e = m.sample_relaxed(8, MAX_LEN, 3.0, torch.Generator().manual_seed(6))
    monkeypatch.setattr(sampling, "sync_every", lambda device: 1)
    soft_l, hard_l = m.sample_relaxed(8, MAX_LEN, 3.0, torch.Generator().manual_seed(6))
    assert torch.equal(hard_e, hard_l)
    torch.testing.assert_close(soft_e, soft_l)


def test_inverse_cdf_sampler_follows_the_softmax():
    logits = torch.tensor([[2.0, 0.0, -1.0, 1.0, -1e9]]).expand(40000, -1)
    u = torch.rand(40000, generator=torch.Generator().manual_seed(0))
    draws = sampling.categorical(logits, u)
    freq = torch.bincount(draws, minlength=5).float() / len(draws)
    assert freq[4] == 0  # a masked token is never drawn
    torch.testing.assert_close(freq, torch.softmax(logits[0], -1), atol=0.01, rtol=0)


def test_row_blocked_sampler_is_bit_identical(monkeypatch):
    """On CPU the sampler works through blocks of rows (cache-sized); every row is its own
    computation, so the draws equal one pass over all rows, at any temperature."""
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(1300, 50, generator=g) * 3
    u = torch.rand(1300, generator=g)
    for t in (1.0, 0.7):
        blocked = sampling.categorical(logits, u, t)
        monkeypatch.setattr(sampling, "CPU_ROW_BLOCK", 10 ** 9)
        assert torch.equal(blocked, sampling.categorical(logits, u, t))
        monkeypatch.undo()
    assert torch.equal(sampling.categorical(logits, u, 0.7),
                       sampling.categorical(logits / 0.7, u))


def test_bf16_decoding_head_keeps_the_state_fp32_and_the_mask():
    """runtime.precision bf16 runs the decoding head in bf16; the recurrent state stays fp32
    (also inside a bf16 autocast region, as in an adversarial step), <pad>/<bos> are never
    drawn, and teacher forcing (the NLL path) is untouched."""
    m = _model()
    rows = _rows()
    nll32 = m.token_nll(rows)
    m.set_decode_precision(torch.bfloat16)
    torch.testing.assert_close(m.token_nll(rows), nll32, rtol=0, atol=0)
    logits, state = sampling.start(m, 3)
    assert logits.dtype == torch.bfloat16 and all(s.dtype == torch.float32 for s in state if s.is_floating_point())
    assert bool((logits[:, [PAD_ID, BOS_ID]] == -1e9).all()) and bool(torch.isfinite(logits).all())
    plain = m.sample(200, generator=torch.Generator().manual_seed(2))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = m.sample(200, generator=torch.Generator().manual_seed(2))
    assert torch.equal(plain[0], inside[0])
    _check_layout(*plain, MAX_LEN)
    before = sampling.start(m, 3)[0]
    with torch.no_grad():  # an optimizer step changes the weights in place: no stale bf16 copy
        m.head.weight.mul_(2.0)
        m.head.bias.add_(1.0)
    after = sampling.start(m, 3)[0]
    fresh = sampling.start(m.set_decode_precision(None), 3)[0]
    assert fresh.dtype == torch.float32 and not torch.equal(before, after)
    ok = [i for i in range(V) if i not in (PAD_ID, BOS_ID)]
    torch.testing.assert_close(after[:, ok].float(), fresh[:, ok], rtol=0.02, atol=0.05)


def test_nll_over_a_large_vocabulary_runs_in_bounded_passes(monkeypatch):
    from gantext.models import base

    m = _model()
    rows = torch.full((9, MAX_LEN + 1), PAD_ID, dtype=torch.long)
    for i in range(9):
        k = 1 + i % MAX_LEN
        rows[i, :k] = 4 + (i + torch.arange(k)) % (V - 4)
        rows[i, k] = EOS_ID
    with torch.no_grad():
        whole, count = m.nll(rows)
    seen = []
    hook = m.head.register_forward_hook(lambda mod, inp, out: seen.append(out.numel()))
    monkeypatch.setattr(base, "VOCAB_WIDE_ELEMENTS", 5 * MAX_LEN * V)  # a few rows a pass
    with torch.no_grad():
        chunked, count2 = m.nll(rows)
    hook.remove()
    assert count2 == count and len(seen) > 1
    assert max(seen) <= base.VOCAB_WIDE_ELEMENTS  # no pass held more logits than the budget
    torch.testing.assert_close(chunked, whole, rtol=1e-6, atol=1e-5)


def test_sampling_batches_are_capped_by_the_vocabulary_and_change_no_sample(monkeypatch):
    m = _model()
    want, want_lens = m.sample(40, generator=torch.Generator().manual_seed(4), batch_size=1024)
    widths = []
    step = m.step
    monkeypatch.setattr(m, "step", lambda tok, state: widths.append(len(tok)) or step(tok, state))
    monkeypatch.setattr(sampling, "SAMPLE_BATCH_ELEMENTS", 7 * V)  # 7 rows a batch
    got, lens = m.sample(40, generator=torch.Generator().manual_seed(4), batch_size=1024)
    assert max(widths) == 7  # the first step of each batch holds all of its rows
    assert torch.equal(got, want) and torch.equal(lens, want_lens)
