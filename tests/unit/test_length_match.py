"""Length matching (gantext.metrics.length_match): the weights, the stratified draw, the wrapper."""

import numpy as np
import pytest
import torch

from gantext.config import params_from_dict
from gantext.metrics.length_match import (LengthMatchConfig, LengthMatched, length_weights,
                                          stratified_select)
from gantext.models.generator import GeneratorSpec, build_generator

V, MAX_LEN = 10, 6


def test_length_weights_give_each_reference_stratum_its_share():
    # reference strata (deciles of [5, 5, 10, 10]): lengths < 6, 6..10, > 10 -> shares 1/2, 1/2, 0
    w, coverage = length_weights([5, 5, 5, 10], [5, 5, 10, 10])
    assert coverage == 1.0
    assert w.tolist() == pytest.approx([1 / 6, 1 / 6, 1 / 6, 1 / 2], abs=1e-15)
    # a stratum no sample reaches drops out, and the coverage says how much of the data it held
    w, coverage = length_weights([5, 4, 3], [5, 5, 10, 10])
    assert coverage == 0.5 and w.tolist() == pytest.approx([1 / 3] * 3, abs=1e-15)
    # samples already distributed like the references: uniform weights
    ref = [3, 4, 4, 5, 6, 6, 6, 7, 9, 12, 12, 15]
    w, coverage = length_weights(ref[::-1], ref)
    assert coverage == 1.0 and w.tolist() == pytest.approx([1 / len(ref)] * len(ref), abs=1e-15)
    with pytest.raises(ValueError):
        length_weights([], ref)


def _strata_counts(lengths, edges):
    return np.bincount(np.searchsorted(edges, lengths, side="right"), minlength=len(edges) + 1)


def test_stratified_select_keeps_the_references_shares_without_replacement():
    ref = [3] * 30 + [5] * 50 + [8] * 20              # strata <4, 4..5, >5: shares .3/.5/.2
    pool = np.array([3] * 500 + [5] * 100 + [8] * 60)  # a pool far too short
    idx = stratified_select(pool, ref, 100, np.random.default_rng(0))
    assert len(set(idx.tolist())) == 100 and idx.tolist() == sorted(idx.tolist())
    assert _strata_counts(pool[idx], [4, 6]).tolist() == [30, 50, 20]
    assert np.array_equal(idx, stratified_select(pool, ref, 100, np.random.default_rng(0)))
    assert not np.array_equal(idx, stratified_select(pool, ref, 100, np.random.default_rng(1)))


def test_stratified_select_gives_a_short_strata_quota_to_the_others_by_their_shares():
    ref = [3] * 30 + [5] * 50 + [8] * 20
    pool = np.array([3] * 500 + [5] * 100 + [8] * 4)   # only 4 long samples for a quota of 20
    idx = stratified_select(pool, ref, 100, np.random.default_rng(0))
    counts = _strata_counts(pool[idx], [4, 6]).tolist()
    assert counts[2] == 4 and sum(counts) == 100
    assert counts[:2] == [36, 60]                    # the 16 missing split 30 : 50
    with pytest.raises(ValueError, match="pool of 604"):
        stratified_select(pool, ref, 605, np.random.default_rng(0))


def _matched(pool_factor):
    torch.manual_seed(0)
    g = build_generator(GeneratorSpec(vocab_size=V, embed_dim=8, hidden_dim=16, max_len=MAX_LEN))
    return LengthMatched(g, [1, 1, 6, 6], LengthMatchConfig(enabled=True, pool_factor=pool_factor))


def test_wrapper_samples_like_a_generator_is_seeded_and_draws_the_reference_lengths():
    m = _matched(pool_factor=20).eval()
    rows, lens = m.sample(10, MAX_LEN, 1.0, torch.Generator().manual_seed(3), batch_size=64)
    assert rows.shape == (10, MAX_LEN + 1) and lens.shape == (10,)
    again, _ = m.sample(10, MAX_LEN, 1.0, torch.Generator().manual_seed(3), batch_size=64)
    assert torch.equal(rows, again)
    assert not m.exact_likelihood
    # references: half of length 1, half of 6 (strata < 2 and >= 2): the kept rows follow them
    pool, pool_lens = m.generator.sample(200, MAX_LEN, 1.0, torch.Generator().manual_seed(3), 64)
    assert (pool_lens < 2).float().mean() < 0.4      # the untrained generator alone does not
    assert int((lens < 2).sum()) == 5


def test_params_section():
    p = params_from_dict({"evaluate": {"length_match": {"enabled": True}}})
    assert p.evaluate.length_match.enabled and p.evaluate.length_match.pool_factor == 5
    with pytest.raises(Exception, match="pool_factor"):
        params_from_dict({"evaluate": {"length_match": {"pool_factor": 0}}})


def test_evaluation_reports_length_matched_rows_and_curves_without_nll(tmp_path):
    from gantext.evaluation import evaluate
    from test_evaluation import tiny_eval, tiny_generator  # tests/unit is on sys.path

    data, cfg, vocab = tiny_eval(tmp_path)
    mle, gan = tiny_generator(vocab, 0), tiny_generator(vocab, 1)
    lengths = [len(s) for s in data.train]
    gens = {"mle": mle, "gan": gan,
            "mle_lm": LengthMatched(mle, lengths, LengthMatchConfig(enabled=True)),
            "gan_lm": LengthMatched(gan, lengths, LengthMatchConfig(enabled=True))}
    res = evaluate(gens, data, cfg, seed=0, log=lambda m: None)
    for name in ("mle_lm", "gan_lm"):
        assert {"bleu5", "sbleu5", "fid", "len"} <= set(res.metrics[name])
        assert "nll" not in res.metrics[name] and len(res.samples[name]) == 6
    assert [r["model"] for r in res.qd_rows] == ["mle", "gan", "mle_lm", "gan_lm", "real"]
    # the first rows are the plain generators' own: wrapping them changes nothing there
    plain = evaluate({"mle": mle, "gan": gan}, data, cfg, seed=0, log=lambda m: None)
    assert plain.metrics["gan"] == res.metrics["gan"]
