"""Like with like: the real row and the FID floor at the models' n, one FID ruler per corpus
(fixed seed, saved, read back), bootstrap intervals, the grammar NLL as a distance, one NLL."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest

from gantext.config import EvaluateConfig, FIDConfig
from gantext.corpus.grammar import MODES, default_grammar
from gantext.evaluation import _BOOTSTRAP, _REAL_TRAIN, evaluate, load_eval_data, stream_seed
from gantext.metrics import bootstrap
from gantext.metrics.bleu import self_bleu
from gantext.metrics.diversity import distinct_n
from gantext.metrics.fid import FeatureExtractor, extractor_md5, fid, load_or_fit
from gantext.metrics.nll import nll_metrics
from gantext.metrics.reference import real_order, sample_sizes
from test_evaluation import make_repo, tiny_generator

QUIET = dict(log=lambda m: None)


def _cfg(n: int, sweep: int = 6) -> EvaluateConfig:
    return EvaluateConfig(num_samples=n, sweep_temperatures=(1.0,), sweep_samples=sweep,
                          batch_size=16, fid=FIDConfig(svd_dim=4), device="cpu")


@pytest.fixture(scope="module")
def small_test(tmp_path_factory):
    """A reference split (8 sentences) much smaller than num_samples (40): the case where the
    old real row measured self-BLEU on 8 sentences against the models' 40."""
    paths, vocab = make_repo(tmp_path_factory.mktemp("repo"), n_train=120, n_test=8)
    data = load_eval_data(paths)
    gens = {"mle": tiny_generator(vocab, 0), "gan": tiny_generator(vocab, 1)}
    res = evaluate(gens, data, _cfg(40), seed=2, oracle=default_grammar(), modes=MODES, **QUIET)
    return paths, data, gens, res


def test_real_row_is_measured_at_the_models_n(small_test):
    _, data, _, res = small_test
    m = res.metrics
    assert len(data.test) == 8 and len(data.pool) == 130  # train 120 + valid 10
    assert m["mle"]["n_samples"] == m["gan"]["n_samples"] == m["real"]["n_samples"] == 40
    assert len(res.samples["mle"]) == 40
    assert m["real"]["n_refs"] == m["mle"]["n_refs"] == 8
    assert m["real"]["pool_size"] == 130 and m["protocol"]["real_sample_from"] == "train+valid"
    real = real_order(data.pool, stream_seed(2, _REAL_TRAIN))[:40]
    assert m["real"]["sbleu5"] == self_bleu(real, (5,))[5]
    assert m["real"]["distinct_2"] == distinct_n(real, 2)
    # the sweep's real point is the same draw (its first sweep_samples sentences)
    assert res.qd_rows[-1]["self_bleu5"] == self_bleu(real[:6], (5,))[5]


def test_fid_floor_has_the_models_sizes(small_test):
    _, data, _, res = small_test
    m = res.metrics
    real = real_order(data.pool, stream_seed(2, _REAL_TRAIN))[:m["mle"]["n_samples"]]
    # FID(all references, a real sample of the models' n): the exact counterpart of mle.fid
    assert m["real"]["fid_floor"] == pytest.approx(fid(res.extractor, data.test, real), rel=1e-12)
    assert m["mle"]["fid"] == pytest.approx(fid(res.extractor, data.test, res.samples["mle"]),
                                            rel=1e-12)
    # the half-vs-half figure only under its own name, with its size
    assert m["real"]["n_halves"] == 4 and m["real"]["fid_halves"] >= 0.0
    assert "fid_train" not in m["real"]


def test_pool_smaller_than_num_samples_caps_every_row(tmp_path):
    paths, vocab = make_repo(tmp_path, n_train=20, n_test=8)
    data = load_eval_data(paths)
    said = []
    res = evaluate({"mle": tiny_generator(vocab, 0)}, data, _cfg(50, sweep=45), seed=0,
                   log=said.append)
    m = res.metrics
    assert m["mle"]["n_samples"] == m["real"]["n_samples"] == 30 == len(res.samples["mle"])
    assert {r["n"] for r in res.qd_rows} == {30}  # the sweep too, real point included
    assert any("held-out real sentences" in s and "n = 30" in s for s in said)
    assert sample_sizes(50, 45, 30) == (30, 30) and sample_sizes(10, 5, 30) == (10, 5)


def test_valid_reference_never_reads_test_for_the_pool(tmp_path):
    paths, _ = make_repo(tmp_path, n_train=40, n_test=8)
    data = load_eval_data(paths, "valid")
    assert data.pool == data.train and data.pool_splits == ("train",)


# ---------------------------------------------------------------------- the FID ruler
def test_extractor_loaded_from_disk_gives_the_same_features(tmp_path, small_test):
    _, data, _, _ = small_test
    cfg = FIDConfig(svd_dim=4)
    fitted = FeatureExtractor.fit(data.train, cfg)
    fitted.save(tmp_path / "a.npz")
    loaded = FeatureExtractor.load(tmp_path / "a.npz")
    probe = data.test + data.train[:5]
    assert np.array_equal(fitted.transform(probe), loaded.transform(probe))
    assert loaded.fingerprint == fitted.fingerprint != ""
    # deterministic bytes: the md5 is the content's, not the save time's
    fitted.save(tmp_path / "b.npz")
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    assert extractor_md5(tmp_path / "a.npz") == fitted.md5 == loaded.md5
    assert fitted.md5 == hashlib.md5((tmp_path / "a.npz").read_bytes()).hexdigest()


def test_one_ruler_for_every_seed(small_test):
    _, data, gens, res = small_test
    other = evaluate(gens, data, _cfg(40), seed=7, **QUIET)
    assert other.metrics["protocol"]["fid_extractor_md5"] == res.metrics["protocol"][
        "fid_extractor_md5"] == res.extractor.md5
    assert res.metrics["protocol"]["fid_extractor_seed"] == 0


def test_load_or_fit_reuses_the_file_and_refits_on_other_data(tmp_path, small_test, monkeypatch):
    _, data, _, _ = small_test
    cfg, path = FIDConfig(svd_dim=4), tmp_path / "fid" / "extractor.npz"
    first = load_or_fit(path, data.train, cfg)
    md5 = extractor_md5(path)
    assert first.md5 == md5

    def no_fit(*a, **k):
        raise AssertionError("refitted although the file matches")

    monkeypatch.setattr(FeatureExtractor, "fit", no_fit)
    again = load_or_fit(path, data.train, cfg)
    assert again.md5 == md5
    monkeypatch.undo()
    changed = load_or_fit(path, data.train[:-3], cfg)  # another corpus: refitted and saved
    assert changed.fingerprint != first.fingerprint and extractor_md5(path) == changed.md5


# ---------------------------------------------------------------------- intervals
def test_intervals_bracket_each_figure_and_are_seeded(small_test):
    _, data, gens, res = small_test
    for block, keys in (("mle", ("bleu5", "sbleu2", "fid")), ("gan", ("bleu3", "fid")),
                        ("real", ("bleu5", "sbleu5", "fid_floor")), ("delta", ("bleu5", "fid"))):
        for k in keys:
            m = res.metrics[block]
            assert m[f"{k}_lo"] <= m[k] <= m[f"{k}_hi"], (block, k)
            assert m[f"{k}_lo"] < m[f"{k}_hi"], (block, k)
    again = evaluate(gens, data, _cfg(40), seed=2, oracle=default_grammar(), modes=MODES, **QUIET)
    assert again.metrics == res.metrics
    assert res.metrics["protocol"]["ci_seed"] == stream_seed(2, _BOOTSTRAP, 0)


def test_mean_interval_matches_the_normal_approximation():
    rng = np.random.default_rng(0)
    x = rng.normal(size=2000)
    idx = bootstrap.indices(len(x), seed=1)
    lo, hi = bootstrap.interval(float(x.mean()), bootstrap.mean_replicates(x, idx))
    half = 1.96 * x.std(ddof=1) / math.sqrt(len(x))
    assert lo < x.mean() < hi
    assert (hi - lo) / 2 == pytest.approx(half, rel=0.1)
    assert bootstrap.significant({"d": 1.0, "d_lo": 0.2, "d_hi": 1.5}, "d") is True
    assert bootstrap.significant({"d": 1.0, "d_lo": -0.2, "d_hi": 1.5}, "d") is False
    assert bootstrap.significant({"d": 1.0}, "d") is None


# ---------------------------------------------------------------------- grammar figures, NLL
def test_oracle_nll_is_per_token_with_invalid_samples_counted_and_a_gap_to_real(small_test):
    *_, res = small_test
    m = res.metrics
    for name in ("mle", "gan"):
        n_invalid = m[name]["oracle_invalid"]
        assert n_invalid == round((1.0 - m[name]["validity"]) * m[name]["n_samples"])
        if m[name]["oracle_nll_token"] is not None:
            assert m[name]["oracle_nll_gap"] == abs(m[name]["oracle_nll_token"]
                                                    - m["real"]["oracle_nll_token"])
    assert m["real"]["oracle_invalid"] == 0
    if m["mle"]["oracle_nll_gap"] is not None and m["gan"]["oracle_nll_gap"] is not None:
        gaps = m["gan"]["oracle_nll_gap"] - m["mle"]["oracle_nll_gap"]
        assert m["delta"]["oracle_nll_gap"] == gaps


def test_evaluate_nll_has_the_same_bits_as_pretrain(tmp_path):
    from gantext.training.mle import EVAL_BATCH_SIZE

    # > 512 reference rows, and an evaluate batch size (500) that cuts them differently
    paths, vocab = make_repo(tmp_path, n_train=60, n_test=700)
    data = load_eval_data(paths)
    gen = tiny_generator(vocab, 0)
    cfg = EvaluateConfig(num_samples=6, sweep_temperatures=(1.0,), sweep_samples=4,
                         batch_size=500, fid=FIDConfig(svd_dim=3), device="cpu")
    res = evaluate({"mle": gen}, data, cfg, seed=0, **QUIET)
    pretrain_figure = nll_metrics(gen, data.test_encoded, EVAL_BATCH_SIZE)["nll"]
    assert res.metrics["mle"]["nll"] == pretrain_figure


def test_oracle_gap_with_grammatical_samples(tmp_path, monkeypatch):
    """MLE emits grammar sentences (like the data), the 'GAN' only the shortest ones plus a few
    invalid ones: its raw oracle NLL is lower (the old delta called that better), but it is
    farther from the real data per token, and the invalid ones are counted, not dropped."""
    import gantext.evaluation as ev

    paths, vocab = make_repo(tmp_path, n_train=200, n_test=30)
    data = load_eval_data(paths)
    gram = default_grammar()
    gens = {"mle": tiny_generator(vocab, 0), "gan": tiny_generator(vocab, 1)}
    pool = gram.sample(400, seed=11)
    short = sorted(pool, key=len)[:37] + [["coffee", "coffee", "maker"]] * 3

    def fake_draw(model, vocab, n, max_len, temperature, seed, batch_size):
        return [list(s) for s in (pool[:n] if model is gens["mle"] else short[:n])]

    monkeypatch.setattr(ev, "draw_samples", fake_draw)
    m = evaluate(gens, data, _cfg(40), seed=0, oracle=gram, modes=MODES, **QUIET).metrics
    assert m["mle"]["oracle_invalid"] == 0 and m["gan"]["oracle_invalid"] == 3
    assert m["gan"]["oracle_nll"] < m["mle"]["oracle_nll"]  # shorter = fewer nats per sentence
    for name in ("mle", "gan"):
        assert m[name]["oracle_nll_gap"] == abs(m[name]["oracle_nll_token"]
                                                - m["real"]["oracle_nll_token"])
    assert m["delta"]["oracle_nll_gap"] == m["gan"]["oracle_nll_gap"] - m["mle"]["oracle_nll_gap"]
    assert m["delta"]["oracle_nll_gap"] > 0  # the GAN moved away from the data
    assert "oracle_nll" not in m["delta"]
