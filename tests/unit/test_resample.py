"""Discriminator-guided resampling (gantext.metrics.resample): SIR, independent MH, the wrapper."""

import numpy as np
import pytest
import torch

from gantext.config import params_from_dict
from gantext.metrics.resample import (DResampleConfig, DResampled, independent_mh, log_weights,
                                      select, sir)
from gantext.models.discriminator import Discriminator, DiscriminatorSpec
from gantext.models.generator import GeneratorSpec, build_generator
from gantext.text.vocab import PAD_ID

V, MAX_LEN = 10, 6


def test_sir_draws_in_proportion_to_d_over_one_minus_d():
    d = np.array([0.5, 0.8, 0.2])  # D/(1-D) = 1, 4, 0.25
    logits = np.log(d / (1 - d))
    idx = sir(log_weights(logits), 200_000, np.random.default_rng(0))
    freq = np.bincount(idx, minlength=3) / len(idx)
    np.testing.assert_allclose(freq, np.array([1, 4, 0.25]) / 5.25, atol=0.005)


def test_alpha_zero_is_uniform_and_alpha_sharpens():
    logits = np.array([0.0, 2.0])
    flat = np.bincount(sir(log_weights(logits, 0.0), 100_000, np.random.default_rng(1)), minlength=2)
    assert abs(flat[0] / flat.sum() - 0.5) < 0.01
    sharp = np.bincount(sir(log_weights(logits, 3.0), 100_000, np.random.default_rng(1)), minlength=2)
    assert sharp[1] / sharp.sum() > 0.99  # e^6 : 1


def test_sir_without_replacement_has_no_duplicates_and_prefers_high_weights():
    logw = np.array([-10.0, 0.0, 5.0, 5.0, -10.0])
    idx = sir(logw, 2, np.random.default_rng(0), replace=False)
    assert sorted(idx.tolist()) == [2, 3]
    with pytest.raises(ValueError, match="without replacement"):
        sir(logw, 6, np.random.default_rng(0), replace=False)


def test_independent_mh_targets_the_reweighted_pool():
    # many chains over the same 3 proposals in random order: the final state follows p * w
    rng = np.random.default_rng(0)
    w = np.array([1.0, 4.0, 0.25])
    chains, k = 40_000, 30
    pool = rng.integers(0, 3, size=(chains, k))  # proposals drawn uniformly (p = 1/3 each)
    flat = independent_mh(np.log(w)[pool], rng)
    picked = pool.ravel()[flat]
    freq = np.bincount(picked, minlength=3) / chains
    np.testing.assert_allclose(freq, w / w.sum(), atol=0.01)


def test_select_checks_the_pool_size_and_dispatches():
    cfg = DResampleConfig(enabled=True, method="mh", pool_factor=3)
    idx = select(np.zeros(6), 2, cfg, np.random.default_rng(0))
    assert idx.shape == (2,) and idx[0] in (0, 1, 2) and idx[1] in (3, 4, 5)
    with pytest.raises(ValueError, match="pool"):
        select(np.zeros(5), 2, cfg, np.random.default_rng(0))


def _wrapped(cfg):
    torch.manual_seed(0)
    g = build_generator(GeneratorSpec(vocab_size=V, embed_dim=8, hidden_dim=16, max_len=MAX_LEN))
    d = Discriminator(DiscriminatorSpec(vocab_size=V, embed_dim=8, kernel_sizes=(2, 3), num_filters=6))
    return DResampled(g, d, cfg).eval()


def test_wrapper_samples_like_a_generator_and_is_seeded():
    m = _wrapped(DResampleConfig(enabled=True, pool_factor=4))
    rows, lens = m.sample(7, MAX_LEN, 1.0, torch.Generator().manual_seed(3), batch_size=5)
    assert rows.shape == (7, MAX_LEN + 1) and lens.shape == (7,)
    again, _ = m.sample(7, MAX_LEN, 1.0, torch.Generator().manual_seed(3), batch_size=5)
    assert torch.equal(rows, again)
    assert not m.exact_likelihood


def test_wrapper_keeps_the_rows_d_prefers():
    m = _wrapped(DResampleConfig(enabled=True, pool_factor=8, alpha=50.0))
    # a D that scores rows by their length: the sharpened resampling keeps the longest
    m.logits = lambda rows: (rows != PAD_ID).sum(1).float().numpy()
    g = torch.Generator().manual_seed(0)
    pool, pool_lens = m.generator.sample(40, MAX_LEN, 1.0, torch.Generator().manual_seed(0), 1024)
    rows, lens = m.sample(5, MAX_LEN, 1.0, g, batch_size=1024)
    assert float(lens.float().mean()) >= float(pool_lens.float().max()) - 0.5


def test_params_section():
    p = params_from_dict({"evaluate": {"d_resample": {"enabled": True, "method": "mh"}}})
    assert p.evaluate.d_resample.method == "mh" and p.evaluate.d_resample.pool_factor == 10
    with pytest.raises(Exception, match="pool_factor"):
        params_from_dict({"evaluate": {"d_resample": {"pool_factor": 0}}})


def test_evaluation_reports_a_d_resample_row_and_curve_without_nll(tmp_path):
    from gantext.evaluation import evaluate
    from test_evaluation import tiny_eval, tiny_generator  # tests/unit is on sys.path

    data, cfg, vocab = tiny_eval(tmp_path)
    gan = tiny_generator(vocab, 1)
    d = Discriminator(DiscriminatorSpec(vocab_size=len(vocab), embed_dim=8, kernel_sizes=(2, 3),
                                        num_filters=6))
    gens = {"mle": tiny_generator(vocab, 0), "gan": gan,
            "d_resample": DResampled(gan, d, DResampleConfig(enabled=True, pool_factor=3))}
    res = evaluate(gens, data, cfg, seed=0, log=lambda m: None)
    row = res.metrics["d_resample"]
    assert {"bleu5", "sbleu5", "fid"} <= set(row) and "nll" not in row
    assert "nll" in res.metrics["gan"]
    assert [r["model"] for r in res.qd_rows] == ["mle", "gan", "d_resample", "real"]
    assert len(res.samples["d_resample"]) == 6
