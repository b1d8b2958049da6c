"""Bootstrap 95% intervals for the headline figures (BLEU-n, self-BLEU-n, FID) and their deltas.

What is resampled
-----------------
The *sample side* of each row: its ``n`` sentences are drawn ``n`` times with replacement,
:data:`RESAMPLES` times, from one seeded stream per row (``numpy.random.default_rng(seed)``; the
evaluation derives the seeds from ``params.seed``, see ``gantext.evaluation``). The reference
split is held fixed: every row is scored against the same references, so their variation is
common to all rows and cancels in the comparisons the intervals are for.

- **BLEU-n, self-BLEU-n**: the mean of the per-sentence scores is resampled (the scores come
  from :func:`gantext.metrics.bleu.sentence_scores` / ``self_sentence_scores``; a self-BLEU score
  keeps the full sample as its references). Recomputing self-BLEU on a resample would let a
  sentence match its own duplicate and cost a full self-BLEU per resample.
- **FID**: the Gaussian of the resampled features against the fixed reference Gaussian.

Interval
--------
Resampling with replacement duplicates ~37% of the sentences, which shifts FID replicates
upwards (fewer distinct points -> a noisier covariance). So the interval is the replicates'
2.5%..97.5% spread *around their median*, placed around the point estimate::

    lo = est - (median - q_2.5),   hi = est + (q_97.5 - median)

i.e. the percentile interval shifted by the bootstrap bias (median - est); for means of
per-sentence scores the shift is ~0 and this is the plain percentile interval.

Checked against the truth on the grammar corpus (``bench/bootstrap_width.py``: 20 independent
sets of 1,000 grammar sentences against 1,000 fixed references, 8,000 training sentences for the
extractor): bootstrap sd / sd over the sets = 0.98 (BLEU-5), 1.10 (self-BLEU-5), 1.33 (FID:
somewhat conservative); the intervals covered the mean of the sets 95%, 95% and 100% of the time.

Deltas (``delta.*``, GAN - MLE) get the interval of the difference of the two rows' replicates
(independent resamples). ``gantext summary`` marks a delta significant when its interval
excludes 0 (:func:`significant`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import numpy as np

from gantext.metrics.fid import frechet_distance
from gantext.progress import format_duration, progress
from gantext.progress import write as progress_write

__all__ = ["RESAMPLES", "LEVEL", "indices", "interval", "mean_replicates", "fid_replicates",
           "significant"]

#: Bootstrap resamples per row (documented in the README's metrics glossary).
RESAMPLES = 1000
#: Two-sided coverage of the intervals.
LEVEL = 0.95
#: An FID bootstrap predicted (from its first replicate) to take longer than this many seconds
#: says so before it goes on; its progress lines (rate, ETA) follow every few seconds.
ESTIMATE_NOTE_S = 30.0


def indices(n: int, seed: int, resamples: int = RESAMPLES) -> np.ndarray:
    """(resamples, n) int64 row indices, drawn with replacement from one seeded stream."""
    if n < 1:
        raise ValueError(f"bootstrap: need at least one sentence, got {n}")
    return np.random.default_rng(seed).integers(0, n, size=(resamples, n), dtype=np.int64)


def interval(estimate: float, replicates: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """The bias-shifted percentile interval (see the module docstring)."""
    reps = np.asarray(replicates, dtype=np.float64)
    reps = reps[np.isfinite(reps)]
    if reps.size == 0:
        raise ValueError("bootstrap: no finite replicate")
    alpha = (1.0 - level) / 2.0
    q_lo, med, q_hi = np.quantile(reps, [alpha, 0.5, 1.0 - alpha])
    return float(estimate - (med - q_lo)), float(estimate + (q_hi - med))


def mean_replicates(values: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Mean of `values` (one per sentence) over each resample's rows: (resamples,) float64.

    numpy's pairwise sum over a fixed index array: deterministic, no BLAS threading involved.
    """
    v = np.asarray(values, dtype=np.float64)
    return v[idx].mean(axis=1)


def fid_replicates(ref: tuple[np.ndarray, np.ndarray], feats: np.ndarray, idx: np.ndarray,
                   note: Callable[[str], None] = progress_write,
                   clock: Callable[[], float] = time.perf_counter) -> np.ndarray:
    """FID of each resample of `feats` (rows of features) against the fixed reference Gaussian
    ``ref = (mean, covariance)``: (resamples,) float64.

    Each replicate costs an eigendecomposition of a d x d matrix (d = the feature dimension,
    ``evaluate.fid.svd_dim``): cubic in d. The first replicate's time times the resamples is the
    cost estimate, passed to `note` when above :data:`ESTIMATE_NOTE_S`; a progress counter
    (rate and ETA, :mod:`gantext.progress`) covers the rest."""
    mu_r, s_r = ref
    out = np.empty(len(idx), dtype=np.float64)
    dim = int(np.atleast_1d(mu_r).size)
    desc = f"FID bootstrap ({dim} dims)"
    bar = progress(total=len(idx), desc=desc, unit="resample", leave=False)
    t0 = clock()
    for b, rows in enumerate(idx):
        x = feats[rows]
        out[b] = frechet_distance(mu_r, s_r, x.mean(axis=0), np.cov(x, rowvar=False))
        if b == 0 and (estimate := (clock() - t0) * len(idx)) > ESTIMATE_NOTE_S:
            note(f"{desc}: {len(idx)} resamples, about {format_duration(estimate)} for this row "
                 "(from the first; the cost grows with the cube of evaluate.fid.svd_dim)")
        bar.update(1)
    bar.close()
    return out


def significant(block: Mapping[str, object], key: str) -> bool | None:
    """Whether ``block[key + "_lo"] .. block[key + "_hi"]`` excludes 0; None without an interval."""
    lo, hi = block.get(f"{key}_lo"), block.get(f"{key}_hi")
    if not isinstance(lo, (int, float)) or not isinstance(hi, (int, float)):
        return None
    return bool(lo > 0.0 or hi < 0.0)
