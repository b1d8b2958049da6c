"""The verdict: is one generator's quality-diversity curve above another's, at equal diversity
(and at equal length), beyond sampling noise?

A single (BLEU-5, self-BLEU-5) point at temperature 1 says little: a GAN that looks better than
MLE there may sit further along the same curve, which MLE reaches by lowering its temperature
(Caccia et al., 2020). So a model is compared with a base (MLE, or the ``mle-continued``
control) at *shared self-BLEU-5 levels*: each model's sweep points (one per temperature) are
joined into a curve BLEU-5(self-BLEU-5), both curves are read at the same levels, and the gap is
their difference there.

The estimator
-------------
- **Curve**: a shape-preserving piecewise-cubic interpolation (PCHIP) of BLEU-5 over
  self-BLEU-5 through a model's sweep points. Straight chords between 5 points lie *below* a
  concave curve, so the older reading (a model's exact points against MLE's chords) favoured
  any model with points between MLE's, and cold models most: measured on a news corpus,
  coldgan's largest gap was +0.0078 with chords and +0.0048 with a smooth curve. Here *both*
  curves are interpolated the same way and read at the same levels, so what is left of the
  interpolation error is the difference of two similar errors. ``bench/verdict_bias.py``
  measures it (MLE against MLE drawn at other temperatures and another seed: true gap 0).
- **Levels**: :data:`LEVELS` self-BLEU-5 values evenly spaced over the overlap of the two
  curves' ranges (no extrapolation). No overlap: no verdict (``comparable`` 0; widen
  ``evaluate.sweep_temperatures``).
- ``gap_mean``: the mean gap over the levels (the area between the curves over the overlap,
  per unit of self-BLEU-5); ``gap_max``: the largest.
- **Equal length**: the same with every point's BLEU-5 and self-BLEU-5 read as if its samples
  had the references' length distribution (:func:`gantext.metrics.length_match.length_weights`:
  ``bleu5_lm`` / ``self_bleu5_lm`` of the sweep).
- **Intervals**: a *paired* bootstrap. The sentences of every point of both curves are resampled
  with the same index rows (the models' samples at one temperature share their random stream,
  so sample i of each is drawn with the same numbers; the pairing keeps that correlation, which
  narrows the interval of a difference), :data:`~gantext.metrics.bootstrap.RESAMPLES` times;
  each replicate re-reads both curves at the same levels. Interval: the bias-shifted percentile
  interval of :func:`gantext.metrics.bootstrap.interval`. References stay fixed, as everywhere.
  The largest gap is the maximum over the levels of a noisy difference, so it reads above 0 on
  a model against itself (measured with ``bench/verdict_bias.py`` on the built-in MLE, 4,000
  samples per point: +0.004 to +0.009 where the true gap is 0; the mean gap -0.002 to +0.005,
  each interval holding 0). Its replicates are biased the same way, so its interval is the
  basic (reflected) bootstrap interval, which moves against that bias; it is descriptive. The
  verdict reads the mean gap.
- **Verdict**: ``1`` (above) when the mean gap's 95% interval lies above 0, ``-1`` (below) when
  it lies below, ``0`` inside noise; ``None`` when the curves do not overlap.

The ceiling: the real sample's point (held-out real sentences at the sweep's n) read against
the base curve (``real_gap``): how far above MLE's curve a model that reproduces the data would
lie at this n.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.interpolate import PchipInterpolator

from gantext.metrics import bootstrap

__all__ = ["LEVELS", "Point", "Gap", "compare", "curve_at", "point_gap", "verdict_word",
           "sign_of"]

#: self-BLEU-5 levels over the overlap of two curves
LEVELS = 21


@dataclass(frozen=True)
class Point:
    """One sweep point's per-sentence scores: BLEU-5 against the references, leave-one-out
    self-BLEU-5, and the length weights (summing to 1) of the equal-length reading."""

    temperature: float | None
    bleu: np.ndarray
    sbleu: np.ndarray
    weights: np.ndarray

    def __post_init__(self) -> None:
        if not len(self.bleu) == len(self.sbleu) == len(self.weights):
            raise ValueError("a sweep point needs one BLEU, self-BLEU and weight per sentence")

    @property
    def n(self) -> int:
        return len(self.bleu)

    def xy(self, lm: bool = False) -> tuple[float, float]:
        """(self-BLEU-5, BLEU-5) of the point: plain means, or length-weighted ones."""
        if lm:
            return float(self.sbleu @ self.weights), float(self.bleu @ self.weights)
        return float(self.sbleu.mean()), float(self.bleu.mean())

    def replicates(self, idx: np.ndarray, lm: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(self-BLEU-5, BLEU-5) of each bootstrap resample (rows of `idx`): (R,) each. The
        length-weighted reading renormalises the resampled weights (a ratio estimator)."""
        if lm:
            w = self.weights[idx]
            total = w.sum(axis=1)
            total[total == 0] = np.nan
            return (self.sbleu[idx] * w).sum(axis=1) / total, (self.bleu[idx] * w).sum(axis=1) / total
        return self.sbleu[idx].mean(axis=1), self.bleu[idx].mean(axis=1)


def _prepare(xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points sorted by self-BLEU-5, ties averaged (PCHIP needs strictly increasing x)."""
    ok = np.isfinite(xs) & np.isfinite(ys)
    xs, ys = xs[ok], ys[ok]
    order = np.argsort(xs, kind="stable")
    xs, ys = xs[order], ys[order]
    ux, inv = np.unique(xs, return_inverse=True)
    if len(ux) < len(xs):
        ys = np.bincount(inv, weights=ys) / np.bincount(inv)
    return ux, ys


def curve_at(xs: Sequence[float], ys: Sequence[float], at: np.ndarray | float) -> np.ndarray:
    """BLEU-5 of the curve through points (self-BLEU-5 `xs`, BLEU-5 `ys`) at self-BLEU-5 `at`
    (PCHIP; nan outside the points' range, and everywhere for fewer than 2 distinct points)."""
    x, y = _prepare(np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64))
    at = np.atleast_1d(np.asarray(at, dtype=np.float64))
    if len(x) < 2:
        return np.full(at.shape, np.nan)
    out = PchipInterpolator(x, y, extrapolate=False)(at)
    return np.asarray(out, dtype=np.float64)


@dataclass(frozen=True)
class Gap:
    """A model's curve against a base curve: the figures of the module docstring."""

    mean: float
    mean_lo: float
    mean_hi: float
    max: float
    max_lo: float
    max_hi: float
    lo_level: float
    hi_level: float
    levels: int

    @property
    def verdict(self) -> int:
        """1 above, -1 below, 0 inside noise (the mean gap's interval against 0)."""
        return sign_of(self.mean_lo, self.mean_hi)

    def as_dict(self, prefix: str = "") -> dict[str, float]:
        return {f"{prefix}gap_mean": self.mean, f"{prefix}gap_mean_lo": self.mean_lo,
                f"{prefix}gap_mean_hi": self.mean_hi, f"{prefix}gap_max": self.max,
                f"{prefix}gap_max_lo": self.max_lo, f"{prefix}gap_max_hi": self.max_hi}


def sign_of(lo: float | None, hi: float | None) -> int:
    """1 when the interval [lo, hi] lies above 0, -1 below, 0 when it holds 0 (or is missing)."""
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return 0
    return 1 if lo > 0 else -1 if hi < 0 else 0


def _xy(points: Sequence[Point], lm: bool) -> tuple[np.ndarray, np.ndarray]:
    pairs = [p.xy(lm) for p in points]
    return np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])


def _overlap(base: Sequence[Point], model: Sequence[Point], lm: bool) -> tuple[float, float]:
    bx, _ = _xy(base, lm)
    mx, _ = _xy(model, lm)
    return max(np.nanmin(bx), np.nanmin(mx)), min(np.nanmax(bx), np.nanmax(mx))


def compare(base: Sequence[Point], model: Sequence[Point], seed: int, lm: bool = False,
            resamples: int = bootstrap.RESAMPLES, levels: int = LEVELS) -> Gap | None:
    """`model`'s curve minus `base`'s at shared self-BLEU-5 levels, with paired bootstrap
    intervals (module docstring); None when the curves' self-BLEU-5 ranges do not overlap.

    Every point of both curves must hold the same number of sentences (the sweep's n): the
    pairing resamples them with the same index rows."""
    if len(base) < 2 or len(model) < 2:
        return None
    sizes = {p.n for p in (*base, *model)}
    if len(sizes) != 1:
        raise ValueError(f"paired bootstrap: every sweep point must hold the same n, got {sizes}")
    lo, hi = _overlap(base, model, lm)
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return None
    grid = np.linspace(lo, hi, levels)

    def gaps(bx: np.ndarray, by: np.ndarray, mx: np.ndarray, my: np.ndarray) -> np.ndarray:
        return curve_at(mx, my, grid) - curve_at(bx, by, grid)

    est = gaps(*_xy(base, lm), *_xy(model, lm))
    idx = bootstrap.indices(sizes.pop(), seed, resamples)
    reps_b = [p.replicates(idx, lm) for p in base]
    reps_m = [p.replicates(idx, lm) for p in model]
    means = np.empty(resamples)
    maxes = np.empty(resamples)
    for r in range(resamples):
        g = gaps(np.array([x[r] for x, _ in reps_b]), np.array([y[r] for _, y in reps_b]),
                 np.array([x[r] for x, _ in reps_m]), np.array([y[r] for _, y in reps_m]))
        # a replicate's curve may end just inside the overlap: read the levels it covers
        means[r], maxes[r] = (np.nanmean(g), np.nanmax(g)) if np.isfinite(g).any() else (np.nan,) * 2
    m_lo, m_hi = bootstrap.interval(float(est.mean()), means)
    x_lo, x_hi = bootstrap.basic_interval(float(est.max()), maxes)
    return Gap(float(est.mean()), m_lo, m_hi, float(est.max()), x_lo, x_hi, float(lo), float(hi),
               levels)


def point_gap(base: Sequence[Point], point: Point, lm: bool = False) -> float | None:
    """BLEU-5 of `point` minus the base curve's at the point's self-BLEU-5 (None outside the
    base curve's range): the real sample's height above MLE's curve is the ceiling."""
    x, y = point.xy(lm)
    at = curve_at(*_xy(base, lm), x)[0]
    return None if not math.isfinite(at) else y - float(at)


def verdict_word(v: int | None) -> str:
    """'yes' / 'no' / 'inside noise' / 'not comparable' for a verdict of :meth:`Gap.verdict`."""
    return {1: "yes", -1: "no", 0: "inside noise"}.get(v, "not comparable")  # type: ignore[arg-type]


def verdict_block(curves: Mapping[str, Sequence[Point]], real: Point | None, seed: int,
                  base: str = "mle", model: str = "gan", control: str = "control",
                  resamples: int = bootstrap.RESAMPLES) -> dict[str, Any]:
    """The ``verdict`` keys for `model` against `base` (and against `control` when `curves`
    holds it), at equal diversity and at equal length, plus the real sample's ceiling."""
    out: dict[str, Any] = {}
    against = [("", base)] + ([("control_", control)] if control in curves else [])
    for prefix, ref in against:
        for lm in (False, True):
            tag = ("lm_" if lm else "") + prefix
            gap = compare(curves[ref], curves[model], seed, lm=lm, resamples=resamples)
            name = "vs_" + ("control" if prefix else "mle") + ("_lm" if lm else "")
            out[name] = None if gap is None else gap.verdict
            if gap is not None:
                out.update(gap.as_dict(tag))
                if not prefix and not lm:
                    out["overlap_lo"], out["overlap_hi"] = gap.lo_level, gap.hi_level
    if real is not None:
        out["real_gap"] = point_gap(curves[base], real)
        out["lm_real_gap"] = point_gap(curves[base], real, lm=True)
    return out
