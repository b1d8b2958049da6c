"""The transformer generator's own contracts (the shared generator suite in test_generator.py
covers the protocol): the KV cache equals teacher forcing for both position kinds, a step does
no work on the prefix, tied embeddings, config checks."""

import pytest
import torch

from gantext.config import ConfigError, params_from_dict
from gantext.models.generator import build_generator
from gantext.text.vocab import BOS_ID, EOS_ID, PAD_ID

V, MAX_LEN = 11, 6


def _model(positions="learned", seed=0, **kw):
    torch.manual_seed(seed)
    spec = dict(arch="transformer", vocab_size=V, embed_dim=8, d_model=8, num_layers=2,
                num_heads=2, ff_dim=16, positions=positions, max_len=MAX_LEN, **kw)
    return build_generator(spec).eval()


def _rows():
    return torch.tensor([[4, 5, 6, 7, 8, 9, EOS_ID],
                         [7, EOS_ID, PAD_ID, PAD_ID, PAD_ID, PAD_ID, PAD_ID],
                         [10, 4, 4, EOS_ID, PAD_ID, PAD_ID, PAD_ID]])


def _stepwise_log_probs(m, rows, grad: bool):
    """Log-probabilities of each row's tokens from the decoding steps (the KV cache)."""
    with torch.set_grad_enabled(grad):
        state, prev, out = None, torch.full((len(rows),), BOS_ID), []
        for t in range(rows.shape[1]):
            logits, state = m.step(prev, state)
            out.append(torch.log_softmax(logits.float(), -1).gather(1, rows[:, t:t + 1]))
            prev = rows[:, t]
    return torch.cat(out, 1)


@pytest.mark.parametrize("positions", ["learned", "rotary"])
@pytest.mark.parametrize("grad", [False, True], ids=["in-place-cache", "autograd-cache"])
def test_teacher_forced_log_probs_equal_the_kv_cache_decoding(positions, grad):
    """Both cache paths (in place without autograd, out of place with it) give the teacher-forced
    distribution at every position, for learned and rotary positions."""
    m = _model(positions)
    rows = _rows()
    logits, _ = m(m.shift_right(rows))
    forced = torch.log_softmax(logits, -1).gather(2, rows.unsqueeze(2)).squeeze(2)
    torch.testing.assert_close(_stepwise_log_probs(m, rows, grad), forced, rtol=1e-5, atol=1e-5)


def test_forward_returns_the_cache_decoding_continues_from():
    m = _model("rotary")
    rows = _rows()
    prefix = m.shift_right(rows)[:, :3]
    _, state = m(prefix)
    with torch.no_grad():
        cont, _ = m.step(rows[:, 2], state)
    full, _ = m(m.shift_right(rows))
    torch.testing.assert_close(cont, full[:, 3], rtol=1e-5, atol=1e-5)
    # and forward given a state continues through the cache
    more, _ = m(rows[:, 2:4], m(prefix)[1])
    torch.testing.assert_close(more, full[:, 3:5], rtol=1e-5, atol=1e-5)


def test_a_step_computes_only_the_new_token():
    """No recomputation of the prefix: every layer's projections see one row per sequence at
    every step, and the attention reads only the slots in use (CPU)."""
    m = _model()
    seen = []
    hook = m.blocks[0].qkv.register_forward_hook(lambda mod, inp, out: seen.append(inp[0].shape))
    with torch.no_grad():
        state, tok = None, torch.full((5,), BOS_ID)
        for _ in range(MAX_LEN):
            _, state = m.step(tok, state)
            tok = torch.full((5,), 4)
    hook.remove()
    assert seen == [torch.Size([5, 8])] * MAX_LEN
    assert torch.equal(state[0], torch.full((5,), MAX_LEN))


def test_rows_at_different_positions_share_one_batch():
    """SeqGAN's rollouts concatenate the states of every prefix: rows at other positions."""
    m = _model("rotary")
    rows = _rows()
    with torch.no_grad():
        states, state, prev = [], None, torch.full((3,), BOS_ID)
        for t in range(4):
            _, state = m.step(prev, state)
            states.append(state)
            prev = rows[:, t]
        both = m.cat_states([m.index_state(states[1], torch.tensor([0])),
                             m.index_state(states[3], torch.tensor([2]))])
        got, _ = m.step(torch.tensor([rows[0, 1], rows[2, 3]]), both)
    full, _ = m(m.shift_right(rows))
    torch.testing.assert_close(got, torch.stack([full[0, 2], full[2, 4]]), rtol=1e-5, atol=1e-5)


def test_positions_past_the_cache_are_refused():
    m = _model()
    with pytest.raises(ValueError, match="positions"):
        m(torch.full((1, MAX_LEN + 2), 4))


def test_tied_embeddings_share_one_tensor_and_survive_a_checkpoint(tmp_path):
    from gantext.training.checkpoint import load_generator, save_generator

    m = _model(tie_embeddings=True)
    assert m.head.weight is m.embedding.weight
    n_untied = sum(p.numel() for p in _model().parameters())
    assert sum(p.numel() for p in m.parameters()) == n_untied - V * 8
    save_generator(tmp_path / "g.pt", m, "h")
    back, _ = load_generator(tmp_path / "g.pt")
    assert back.head.weight is back.embedding.weight
    assert torch.equal(back.head.weight, m.head.weight)


def test_dropout_reaches_attention_and_residuals():
    m = _model(dropout=0.5).train()
    rows = _rows()
    assert not torch.equal(m.token_nll(rows), m.token_nll(rows))
    m.set_dropout(0.0)
    assert all(b.attn_drop.p == 0.0 for b in m.blocks)
    assert torch.equal(m.token_nll(rows), m.token_nll(rows))


def test_config_section_and_its_checks():
    p = params_from_dict({"model": {"generator": {"arch": "transformer", "transformer": {
        "d_model": 16, "num_heads": 4, "positions": "rotary"}}}})
    assert p.model.generator.transformer.d_model == 16
    with pytest.raises(ConfigError, match="multiple of num_heads"):
        params_from_dict({"model": {"generator": {"transformer": {"d_model": 10, "num_heads": 4}}}})
    with pytest.raises(ConfigError, match="even head size"):
        params_from_dict({"model": {"generator": {"transformer": {
            "d_model": 12, "num_heads": 4, "positions": "rotary"}}}})
    with pytest.raises(ConfigError, match="positions"):
        params_from_dict({"model": {"generator": {"transformer": {"positions": "sinusoid"}}}})


def test_tied_embeddings_need_equal_widths():
    from gantext.models.generator import generator_spec

    p = params_from_dict({"model": {"generator": {"arch": "transformer", "embed_dim": 64,
                                                  "transformer": {"tie_embeddings": True}}}})
    with pytest.raises(ConfigError, match="embed_dim"):
        generator_spec(20, 5, p.model.generator)


def test_mle_fast_path_equals_the_generic_nll():
    """Pretraining takes the transformer through the head-on-real-positions layout."""
    from gantext.data import teacher_forced
    from gantext.training.mle import HEAD_FEATURES, batch_nll

    m = _model()
    assert type(m) in HEAD_FEATURES
    rows = _rows()
    s, n = m.nll(rows)
    torch.testing.assert_close(batch_nll(m, teacher_forced(rows, 8)), s, rtol=1e-5, atol=1e-5)
    assert n == 13  # 7 + 2 + 4 real tokens, <eos> included
