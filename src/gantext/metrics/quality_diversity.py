"""Quality-diversity sweep: BLEU-5 (quality) against self-BLEU-5 (lack of diversity) over
sampling temperatures, for every generator (Caccia et al., 2020, "Language GANs falling short").

Lowering the temperature trades diversity for quality, so a single (BLEU, self-BLEU) point says
little: a GAN that looks better than MLE at temperature 1 may just sit further along the same
curve. Plotting each model's curve on one chart compares models at equal diversity.

Each row: ``model, temperature, bleu5, self_bleu5, n`` (``n`` = sentences of the point, the
same for every point; + ``validity`` when a grammar oracle is given), then the length columns:
``mean_length`` and the length-matched figures ``bleu5_lm, self_bleu5_lm, lm_coverage`` (and
``validity_lm`` with an oracle).

Length-matched figures (:func:`gantext.metrics.length_match.length_weights`): BLEU-5 and
self-BLEU-5 re-read as if the samples had the references' length distribution (``lm_coverage``:
the references' share in the length strata the samples reach). Comparing ``bleu5_lm`` against
``self_bleu5_lm`` curves compares models at equal diversity *and* equal length. A ``real`` row
(``temperature`` empty) places the data itself on the chart: held-out real sentences (the first
``n`` of the headline real sample, see :mod:`gantext.metrics.reference`) scored like samples
(BLEU-5 against the same references, self-BLEU-5 among themselves), i.e. what a generator that
reproduces the data distribution would get at the same n.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from gantext.metrics.bleu import self_sentence_scores, sentence_scores
from gantext.metrics.length_match import length_weights, weighted_mean
from gantext.metrics.oracle import Oracle, score
from gantext.metrics.verdict import Point

__all__ = ["COLUMNS", "qd_point", "qd_row", "sweep"]

#: Column order of metrics/plots/quality_diversity.csv (``validity``, ``validity_lm`` only with
#: an oracle).
COLUMNS = ("model", "temperature", "bleu5", "self_bleu5", "n", "validity", "mean_length",
           "bleu5_lm", "self_bleu5_lm", "lm_coverage", "validity_lm")

Sampler = Callable[[str, float, int], list[list[str]]]


def qd_row(model: str, temperature: float | None, samples: Sequence[Sequence[str]],
           references: Sequence[Sequence[str]], oracle: Oracle | None = None) -> dict[str, Any]:
    """One point of the sweep: BLEU-5 of `samples` against `references`, leave-one-out
    self-BLEU-5 among `samples`, and the grammar validity when `oracle` is given."""
    return qd_point(model, temperature, samples, references, oracle)[0]


def qd_point(model: str, temperature: float | None, samples: Sequence[Sequence[str]],
             references: Sequence[Sequence[str]], oracle: Oracle | None = None
             ) -> tuple[dict[str, Any], Point]:
    """:func:`qd_row`'s row and the point's per-sentence scores (what the verdict's paired
    bootstrap resamples, :mod:`gantext.metrics.verdict`)."""
    if len(samples) == 0:
        raise ValueError(f"quality-diversity point {model}: no samples to score")
    b = sentence_scores(samples, references, ns=(5,))[5]
    sb = self_sentence_scores(samples, ns=(5,))[5] if len(samples) > 1 else np.zeros(len(samples))
    # plain means exactly as bleu() / self_bleu() take them (fsum over n)
    row: dict[str, Any] = {
        "model": model,
        "temperature": "" if temperature is None else float(temperature),
        "bleu5": math.fsum(b.tolist()) / len(b),
        "self_bleu5": math.fsum(sb.tolist()) / len(sb),
        "n": len(samples),
    }
    valid = score(oracle, samples)[0] if oracle is not None else None
    if valid is not None:
        row["validity"] = float(valid.mean())
    w, coverage = length_weights([len(s) for s in samples], [len(r) for r in references])
    row.update(mean_length=float(np.mean([len(s) for s in samples])),
               bleu5_lm=weighted_mean(b, w), self_bleu5_lm=weighted_mean(sb, w),
               lm_coverage=coverage)
    if valid is not None:
        row["validity_lm"] = weighted_mean(valid.astype(np.float64), w)
    return row, Point(None if temperature is None else float(temperature), b, sb, w)


def sweep(models: Sequence[str], temperatures: Sequence[float], n: int, sample: Sampler,
          references: Sequence[Sequence[str]], oracle: Oracle | None = None,
          progress: Callable[[str], None] | None = None,
          points: dict[str, list[Point]] | None = None) -> list[dict[str, Any]]:
    """Rows for every (model, temperature): ``sample(model, temperature, n)`` draws the token
    lists (and owns the seeding, so the sweep is reproducible). `points`, when given, collects
    each model's per-sentence scores by temperature (``points[model]``) for the verdict."""
    rows = []
    for model in models:
        for t in temperatures:
            if progress is not None:
                progress(f"quality-diversity: {model} at temperature {t:g}")
            row, point = qd_point(model, t, sample(model, t, n), references, oracle)
            rows.append(row)
            if points is not None:
                points.setdefault(model, []).append(point)
    return rows
