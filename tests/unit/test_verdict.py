"""The verdict on synthetic curves with known gaps (gantext.metrics.verdict).

Each sweep point is n per-sentence scores built to have an exact mean (a known curve) plus
zero-mean noise, so the true gap between two curves is known."""

from __future__ import annotations

import numpy as np
import pytest

from gantext.metrics.verdict import Point, compare, curve_at, point_gap, verdict_block

N = 400


def _scores(mean: float, sd: float, rng: np.random.Generator) -> np.ndarray:
    x = rng.normal(0.0, sd, N)
    return x - x.mean() + mean  # exactly `mean`


def _point(s: float, b: float, rng: np.random.Generator, sd: float = 0.05,
           weights: np.ndarray | None = None) -> Point:
    w = np.full(N, 1.0 / N) if weights is None else weights
    return Point(None, _scores(b, sd, rng), _scores(s, sd, rng), w)


def _curve(xs, f, seed: int, shift: float = 0.0, sd: float = 0.05) -> list[Point]:
    rng = np.random.default_rng(seed)
    return [_point(x, f(x) + shift, rng, sd) for x in xs]


CONCAVE = np.sqrt  # BLEU-5 against self-BLEU-5 rises with diminishing returns
BASE_X = (0.2, 0.35, 0.5, 0.65, 0.8)
MID_X = (0.275, 0.425, 0.575, 0.725)


def test_a_known_gap_is_recovered_with_an_interval_that_excludes_zero() -> None:
    base = _curve(BASE_X, CONCAVE, 0)
    model = _curve(MID_X, CONCAVE, 1, shift=0.02)
    gap = compare(base, model, seed=0, resamples=300)
    assert gap is not None and gap.mean == pytest.approx(0.02, abs=0.002)
    assert gap.mean_lo > 0 and gap.verdict == 1
    assert gap.lo_level == pytest.approx(0.275) and gap.hi_level == pytest.approx(0.725)


def test_a_curve_below_is_below_and_the_same_curve_is_inside_noise() -> None:
    base = _curve(BASE_X, CONCAVE, 0)
    below = compare(base, _curve(BASE_X, CONCAVE, 2, shift=-0.02), seed=0, resamples=300)
    assert below.mean == pytest.approx(-0.02, abs=1e-9) and below.mean_hi < 0 and below.verdict == -1
    same = compare(base, _curve(MID_X, CONCAVE, 3, sd=0.3), seed=0, resamples=300)
    assert same.mean_lo < 0 < same.mean_hi and same.verdict == 0


def test_the_smooth_curve_has_little_of_the_chords_bias() -> None:
    """Points on the same concave curve between the base's points: chords lie below the curve,
    so linear interpolation would read a positive gap (the bias of the old reading)."""
    xs, ys = np.array(BASE_X), CONCAVE(np.array(BASE_X))
    mids = np.array(MID_X)
    chord_bias = CONCAVE(mids) - np.interp(mids, xs, ys)
    pchip_bias = CONCAVE(mids) - curve_at(xs, ys, mids)
    # what the old reading added to any model between the points: +0.0011 to +0.0050 here
    assert chord_bias.min() > 0.001
    assert np.abs(pchip_bias).mean() < chord_bias.mean() / 5  # 0.0004 against 0.0026
    assert np.abs(pchip_bias).max() < chord_bias.max() / 4
    gap = compare(_curve(BASE_X, CONCAVE, 0, sd=0.0), _curve(MID_X, CONCAVE, 1, sd=0.0), seed=0,
                  resamples=20)
    assert abs(gap.mean) < 0.001


def test_curves_that_do_not_overlap_have_no_verdict() -> None:
    base = _curve((0.2, 0.3, 0.4), CONCAVE, 0)
    model = _curve((0.5, 0.6, 0.7), CONCAVE, 1)
    assert compare(base, model, seed=0, resamples=10) is None
    block = verdict_block({"mle": base, "gan": model}, None, seed=0, resamples=10)
    assert block["vs_mle"] is None and "gap_mean" not in block


def test_equal_length_reads_the_length_weighted_means() -> None:
    """Plain means on the curve; with the length weights the model's long sentences (weight
    3x) score 0.03 higher: the equal-length gap sees it, the plain one does not."""
    rng = np.random.default_rng(7)
    w = np.r_[np.full(N // 2, 1.0), np.full(N // 2, 3.0)]
    w /= w.sum()
    base = [_point(x, CONCAVE(x), rng, sd=0.0, weights=np.full(N, 1 / N)) for x in BASE_X]
    model = []
    for x in MID_X:
        b = np.r_[np.full(N // 2, CONCAVE(x) - 0.015), np.full(N // 2, CONCAVE(x) + 0.015)]
        model.append(Point(None, b, np.full(N, x), w))
    plain = compare(base, model, seed=0, resamples=50)
    lm = compare(base, model, seed=0, lm=True, resamples=50)
    assert abs(plain.mean) < 0.001
    assert lm.mean == pytest.approx(0.0075, abs=0.001)  # 0.75 * 0.015 - 0.25 * 0.015


def test_the_block_has_the_control_and_the_ceiling() -> None:
    base = _curve(BASE_X, CONCAVE, 0)
    control = _curve(BASE_X, CONCAVE, 4, shift=0.01)
    gan = _curve(MID_X, CONCAVE, 5, shift=0.02)
    real = _point(0.5, CONCAVE(0.5) + 0.03, np.random.default_rng(6))
    v = verdict_block({"mle": base, "gan": gan, "control": control}, real, seed=0, resamples=200)
    assert v["vs_mle"] == 1 and v["gap_mean"] == pytest.approx(0.02, abs=0.002)
    assert v["control_gap_mean"] == pytest.approx(0.01, abs=0.002) and "vs_control" in v
    assert v["real_gap"] == pytest.approx(0.03, abs=1e-3)
    assert point_gap(base, _point(0.9, 1.0, np.random.default_rng(0))) is None  # outside


def test_points_of_different_sizes_are_refused() -> None:
    rng = np.random.default_rng(0)
    small = Point(None, np.zeros(3), np.zeros(3), np.full(3, 1 / 3))
    with pytest.raises(ValueError, match="same n"):
        compare(_curve(BASE_X, CONCAVE, 0), [small, _point(0.3, 0.5, rng)], seed=0)
