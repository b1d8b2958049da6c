"""Simplified FID: extractor == sklearn, artifact round trip without pickle, Fréchet numerics,
and the features see word order (shuffle ratio)."""

from __future__ import annotations

import random
import warnings

import numpy as np
import pytest
import scipy.linalg

from gantext.config import FIDConfig
from gantext.errors import CheckpointError, DataError
from gantext.metrics.fid import FeatureExtractor, fid, frechet_distance, halves, shuffle_ratio

ADJ = "red big small old new shiny wooden tall".split()
NOUN = "cat dog man woman table kitchen bus train plate bike".split()
VERB = "sits stands waits sleeps rides looks".split()
PREP = "on near under beside behind".split()


def corpus(n: int, seed: int) -> list[list[str]]:
    """A small corpus with fixed word order (one-letter token 'a' included)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        t = rng.randrange(3)
        if t == 0:
            s = (f"a {rng.choice(ADJ)} {rng.choice(NOUN)} {rng.choice(VERB)} "
                 f"{rng.choice(PREP)} the {rng.choice(NOUN)} .")
        elif t == 1:
            s = f"the {rng.choice(NOUN)} {rng.choice(VERB)} ."
        else:
            s = f"there is a {rng.choice(NOUN)} with a {rng.choice(ADJ)} {rng.choice(NOUN)}"
        out.append(s.split())
    return out


TRAIN = corpus(400, 0)
TEST = corpus(1000, 1)
# FID's floor (two real halves) is covariance-estimation noise ~ dim^2 / n: 500-sentence halves
# need few dimensions for the shuffle ratio to measure order rather than noise.
CFG = FIDConfig(svd_dim=8)


@pytest.fixture(scope="module")
def ext() -> FeatureExtractor:
    return FeatureExtractor.fit(TRAIN, CFG, seed=0)


def test_transform_equals_sklearn() -> None:
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    cfg = FIDConfig(ngram_min=1, ngram_max=2, svd_dim=8, boundary=False)
    e = FeatureExtractor.fit(TRAIN, cfg, seed=3)
    vec = TfidfVectorizer(token_pattern=r"\S+", lowercase=False, ngram_range=(1, 2))
    svd = TruncatedSVD(8, random_state=3).fit(vec.fit_transform([" ".join(s) for s in TRAIN]))
    # unseen n-grams, repeated n-grams, an empty sentence, a sentence of only unknown words
    probe = TEST[:50] + [["a", "a", "a", "cat", "a", "a"], [], ["zebra", "xylophone"],
                         ["the", "cat", "zebra", "the", "cat"]]
    ref = svd.transform(vec.transform([" ".join(s) for s in probe]))
    got = e.transform(probe)
    assert got.dtype == np.float64 and got.shape == (len(probe), 8)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)
    assert "a" in e.vocabulary  # sklearn's default token_pattern would drop it


def test_boundary_markers_give_boundary_bigrams(ext: FeatureExtractor) -> None:
    assert ext.boundary and "<s> a" in ext.vocabulary and ". </s>" in ext.vocabulary


def test_fit_is_deterministic(ext: FeatureExtractor) -> None:
    again = FeatureExtractor.fit(TRAIN, CFG, seed=0)
    assert again.vocabulary == ext.vocabulary
    assert np.array_equal(again.components, ext.components) and np.array_equal(again.idf, ext.idf)


def test_save_load_round_trip(ext: FeatureExtractor, tmp_path) -> None:
    path = tmp_path / "fid" / "extractor.npz"
    ext.save(path)
    assert sorted(p.name for p in path.parent.iterdir()) == ["extractor.npz"]  # no tmp, no .npz.npz
    with np.load(path, allow_pickle=False) as z:  # plain arrays only
        assert {"idf", "components", "vocabulary", "meta"} <= set(z.files)
    back = FeatureExtractor.load(path)
    assert back.vocabulary == ext.vocabulary and back.boundary == ext.boundary
    assert np.array_equal(back.transform(TEST), ext.transform(TEST))


def test_load_errors_name_the_file(tmp_path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        FeatureExtractor.load(tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="bad.npz"):
        FeatureExtractor.load(bad)


def test_tiny_training_split_clamps_dimension() -> None:
    with pytest.warns(UserWarning, match="svd_dim"):
        e = FeatureExtractor.fit([["a", "b", "c"], ["b", "c", "d"]], FIDConfig(svd_dim=64), seed=0)
    assert 1 <= e.dim < 64
    with pytest.raises(DataError, match="ngram"):
        FeatureExtractor.fit([["a"], ["b"]], FIDConfig(boundary=False), seed=0)


# ------------------------------------------------------------------------- Fréchet distance
def _spd(rng: np.random.Generator, d: int) -> np.ndarray:
    a = rng.standard_normal((d, 2 * d))
    return a @ a.T / (2 * d) + 0.05 * np.eye(d)


def _reference(mu1, s1, mu2, s2) -> float:
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean.real))


@pytest.mark.parametrize("seed", range(5))
def test_frechet_matches_scipy_sqrtm(seed: int) -> None:
    rng = np.random.default_rng(seed)
    d = 16
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    s1, s2 = _spd(rng, d), _spd(rng, d)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # well-conditioned: no warning
        got = frechet_distance(mu1, s1, mu2, s2)
    assert abs(got - _reference(mu1, s1, mu2, s2)) < 1e-9


def test_frechet_of_identical_gaussians_is_zero() -> None:
    rng = np.random.default_rng(0)
    s = _spd(rng, 32)
    mu = rng.standard_normal(32)
    assert 0.0 <= frechet_distance(mu, s, mu, s) < 1e-8


def test_singular_covariances_are_exact() -> None:
    rng = np.random.default_rng(1)
    s = _spd(rng, 8)
    zero = np.zeros((8, 8))  # a collapsed generator: every sample identical
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for s1, s2 in ((s, zero), (zero, s)):  # W2^2 to a point mass = tr(S)
            assert frechet_distance(np.zeros(8), s1, np.zeros(8), s2) == pytest.approx(
                np.trace(s), rel=1e-12)
        # rank-deficient on both sides (fewer samples than dimensions) vs sqrtm
        x, y = rng.standard_normal((2, 5, 8))
        c1, c2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
        got = frechet_distance(x.mean(0), c1, y.mean(0), c2)
    assert abs(got - _reference(x.mean(0), c1, y.mean(0), c2)) < 1e-6


@pytest.mark.parametrize("which", [0, 1])
def test_non_psd_input_warns(which: int) -> None:
    mats = [np.eye(2), np.eye(2)]
    mats[which] = np.diag([1.0, -0.5])
    with pytest.warns(RuntimeWarning, match="negative eigenvalue"):
        frechet_distance(np.zeros(2), mats[0], np.zeros(2), mats[1])


def test_non_finite_input_is_an_error() -> None:
    with pytest.raises(ValueError, match="NaN"):
        frechet_distance(np.zeros(2), np.eye(2), np.array([0.0, np.nan]), np.eye(2))


# ------------------------------------------------------------------------- FID on sentences
def test_fid_of_a_set_with_itself_is_zero(ext: FeatureExtractor) -> None:
    assert 0.0 <= fid(ext, TEST, TEST) < 1e-8


def test_fid_needs_two_sentences(ext: FeatureExtractor) -> None:
    with pytest.raises(DataError, match="at least 2"):
        fid(ext, TEST, TEST[:1])


def test_halves_are_disjoint_and_seeded() -> None:
    a, b = halves(TEST, 0)
    assert len(a) == len(b) == len(TEST) // 2
    assert halves(TEST, 0) == (a, b) and halves(TEST, 1) != (a, b)


def test_features_see_word_order(ext: FeatureExtractor) -> None:
    assert shuffle_ratio(ext, TEST, seed=0) >= 5.0
    # the reference point: a bag of words is blind to order by construction
    bow = FeatureExtractor.fit(TRAIN, FIDConfig(ngram_min=1, ngram_max=1, svd_dim=8,
                                                boundary=False), seed=0)
    assert shuffle_ratio(bow, TEST, seed=0) == pytest.approx(1.0, abs=1e-9)


def test_default_features_see_word_order_on_the_builtin_corpus() -> None:
    grammar = pytest.importorskip("gantext.corpus.grammar")
    g = grammar.default_grammar()
    ext = FeatureExtractor.fit(g.sample(2000, 0), FIDConfig(), seed=0)  # the params defaults
    assert shuffle_ratio(ext, g.sample(2000, 1), seed=0) >= 5.0  # measured: 9.0
