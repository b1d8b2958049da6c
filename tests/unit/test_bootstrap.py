"""Bootstrap intervals: the bias shift and the orientation of the tails (on skewed statistics,
where a symmetric one cannot tell them apart), and the FID bootstrap's cost note and progress."""

from __future__ import annotations

import numpy as np
import pytest

from gantext.metrics import bootstrap
from gantext.metrics.fid import frechet_distance, gaussian


def test_interval_is_the_percentile_spread_around_the_median_placed_at_the_estimate():
    # replicates with known quantiles (numpy's linear rule): q2.5 = 0.025^2, median = 0.5^2,
    # q97.5 = 0.975^2; a right-skewed spread whose median differs from the estimate
    reps = (np.arange(1001) / 1000.0) ** 2
    np.random.default_rng(0).shuffle(reps)  # the order of the replicates does not matter
    lo, hi = bootstrap.interval(0.3, reps)
    assert lo == pytest.approx(0.3 - (0.25 - 0.025 ** 2))  # est - (median - q_lo)
    assert hi == pytest.approx(0.3 + (0.975 ** 2 - 0.25))  # est + (q_hi - median)
    # what the two plausible slips would give instead, so the test tells them apart
    assert (lo, hi) != pytest.approx((0.025 ** 2, 0.975 ** 2))          # no bias shift
    assert (lo, hi) != pytest.approx((0.3 - (0.975 ** 2 - 0.25), 0.3 + (0.25 - 0.025 ** 2)))
    # non-finite replicates are left out, not propagated
    assert bootstrap.interval(0.3, np.append(reps, [np.inf, np.nan])) == (lo, hi)


def test_mean_of_a_skewed_sample_gets_the_longer_tail_on_the_right():
    x = np.random.default_rng(3).lognormal(sigma=1.5, size=40)  # strongly right-skewed
    est = float(x.mean())
    reps = bootstrap.mean_replicates(x, bootstrap.indices(len(x), seed=5))
    lo, hi = bootstrap.interval(est, reps)
    q_lo, med, q_hi = np.quantile(reps, [0.025, 0.5, 0.975])
    assert hi - est > 1.5 * (est - lo)  # mirrored tails would put the long one on the left
    assert (lo, hi) == pytest.approx((est - (med - q_lo), est + (q_hi - med)))


def test_fid_interval_is_shifted_down_by_the_resampling_bias():
    rng = np.random.default_rng(0)
    ref = gaussian(rng.normal(size=(400, 6)), "ref")
    feats = rng.normal(size=(60, 6)) + 0.1
    mu, cov = gaussian(feats, "sample")
    est = frechet_distance(*ref, mu, cov)
    reps = bootstrap.fid_replicates(ref, feats, bootstrap.indices(len(feats), seed=1, resamples=300),
                                    note=pytest.fail)
    med = float(np.median(reps))
    assert med > est  # duplicates inflate the covariance noise: replicates sit above the estimate
    lo, hi = bootstrap.interval(est, reps)
    assert lo <= est <= hi  # the unshifted percentile interval would lie above the estimate
    assert np.quantile(reps, 0.025) > lo


def test_a_costly_fid_bootstrap_says_what_it_will_cost_and_shows_progress(monkeypatch, capsys):
    monkeypatch.setenv("GANTEXT_PROGRESS", "lines")
    monkeypatch.setenv("GANTEXT_PROGRESS_INTERVAL", "0")  # a line per chunk of resamples
    rng = np.random.default_rng(0)
    ref = gaussian(rng.normal(size=(50, 3)), "ref")
    feats = rng.normal(size=(20, 3))
    ticks = iter(range(0, 10_000, 10))  # a fake clock: 10 s per chunk of FID_CHUNK resamples
    notes: list[str] = []
    idx = bootstrap.indices(len(feats), seed=0, resamples=4 * bootstrap.FID_CHUNK)
    reps = bootstrap.fid_replicates(ref, feats, idx, note=notes.append,
                                    clock=lambda: float(next(ticks)))
    assert len(reps) == len(idx) and np.isfinite(reps).all()
    assert len(notes) == 1 and f"{len(idx)} resamples, about 40s" in notes[0]
    assert "svd_dim" in notes[0]
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("FID bootstrap")]
    assert len(lines) == 4 + 1  # one per chunk, then the closing line
    assert lines[-1].startswith(f"FID bootstrap (3 dims): {len(idx)}/{len(idx)} resample")
    assert "(done)" in lines[-1]
    # the same replicates whatever the clock: the note and the counter never touch the numbers
    assert np.array_equal(reps, bootstrap.fid_replicates(ref, feats, idx, note=pytest.fail))
    # and the same as the Frechet distance of each resample, one at a time
    one = [frechet_distance(*ref, feats[r].mean(axis=0), np.cov(feats[r], rowvar=False))
           for r in idx]
    assert np.allclose(reps, one, rtol=1e-10, atol=1e-12)
