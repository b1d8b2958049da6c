"""Quality-diversity sweep: BLEU-5 (quality) against self-BLEU-5 (lack of diversity) over
sampling temperatures, for every generator (Caccia et al., 2020, "Language GANs falling short").

Lowering the temperature trades diversity for quality, so a single (BLEU, self-BLEU) point says
little: a GAN that looks better than MLE at temperature 1 may just sit further along the same
curve. Plotting each model's curve on one chart compares models at equal diversity.

Each row: ``model, temperature, bleu5, self_bleu5, n`` (``n`` = sentences of the point, the
same for every point; + ``validity`` when a grammar oracle is given), then the length columns:
``mean_length`` and the length-matched figures ``bleu5_lm, self_bleu5_lm, lm_coverage``.

Length-matched figures (:func:`length_weights`): a model can move up the chart by writing
shorter sentences (fewer 5-grams to get wrong); measured on COCO, WordNet and the grammar, the
relaxed GANs did exactly that. BLEU-5 and self-BLEU-5 are means of per-sentence scores, so they
can be read as if the model's sentences had the references' length distribution: each sentence
is weighted by q(s) / p(s), the share of the references in its length stratum s over the share
of the samples there (importance weighting; strata are the deciles of the reference lengths, so
no stratum weighs more than about a tenth). Strata the samples never reach drop out;
``lm_coverage`` is the share of the references in the strata they do reach (1.0 = all). Comparing
``bleu5_lm`` against ``self_bleu5_lm`` curves compares models at equal diversity *and* equal
length. A ``real`` row
(``temperature`` empty) places the data itself on the chart: held-out real sentences (the first
``n`` of the headline real sample, see :mod:`gantext.metrics.reference`) scored like samples
(BLEU-5 against the same references, self-BLEU-5 among themselves), i.e. what a generator that
reproduces the data distribution would get at the same n.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import math

import numpy as np

from gantext.metrics.bleu import self_sentence_scores, sentence_scores
from gantext.metrics.oracle import Oracle, score

__all__ = ["COLUMNS", "LENGTH_STRATA", "length_weights", "qd_row", "sweep"]

#: Column order of metrics/plots/quality_diversity.csv (``validity`` only with an oracle).
COLUMNS = ("model", "temperature", "bleu5", "self_bleu5", "n", "validity", "mean_length",
           "bleu5_lm", "self_bleu5_lm", "lm_coverage")

#: Length strata of the length-matched figures: quantiles of the reference lengths.
LENGTH_STRATA = 10


def length_weights(lengths: Sequence[int], ref_lengths: Sequence[int],
                   strata: int = LENGTH_STRATA) -> tuple[np.ndarray, float]:
    """Importance weights that give `lengths` the length distribution of `ref_lengths`.

    Strata are the `strata`-quantiles of `ref_lengths` (integer edges, merged where lengths tie;
    a sample shorter or longer than every reference falls in the first or last stratum). Each
    sample of stratum s weighs q(s) / count(s), where q(s) is the share of the references in s,
    so the weights sum to the covered share of the references. Returns (weights normalised to
    sum 1, coverage = the references' share in the strata that hold at least one sample).
    """
    ref = np.asarray(ref_lengths, dtype=np.int64)
    lens = np.asarray(lengths, dtype=np.int64)
    if ref.size == 0 or lens.size == 0:
        raise ValueError("length_weights needs at least one sample and one reference")
    # inner edges: a stratum is [edge_k, edge_k+1); unique, so tied lengths share a stratum
    qs = np.quantile(ref, np.linspace(0, 1, strata + 1)[1:-1], method="lower")
    edges = np.unique(qs + 1)
    ref_stratum = np.searchsorted(edges, ref, side="right")
    stratum = np.searchsorted(edges, lens, side="right")
    q = np.bincount(ref_stratum, minlength=len(edges) + 1) / ref.size
    count = np.bincount(stratum, minlength=len(edges) + 1)
    covered = count > 0
    per_sample = np.where(covered, q / np.maximum(count, 1), 0.0)
    w = per_sample[stratum]
    coverage = float(q[covered].sum())
    return w / w.sum(), coverage


def _weighted_mean(values: np.ndarray, weights: np.ndarray) -> float:
    return math.fsum((values * weights).tolist())

Sampler = Callable[[str, float, int], list[list[str]]]


def qd_row(model: str, temperature: float | None, samples: Sequence[Sequence[str]],
           references: Sequence[Sequence[str]], oracle: Oracle | None = None) -> dict[str, Any]:
    """One point of the sweep: BLEU-5 of `samples` against `references`, leave-one-out
    self-BLEU-5 among `samples`, and the grammar validity when `oracle` is given."""
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
    if oracle is not None:
        valid, _, _ = score(oracle, samples)
        row["validity"] = float(valid.mean()) if len(samples) else 0.0
    w, coverage = length_weights([len(s) for s in samples], [len(r) for r in references])
    row.update(mean_length=float(np.mean([len(s) for s in samples])),
               bleu5_lm=_weighted_mean(b, w), self_bleu5_lm=_weighted_mean(sb, w),
               lm_coverage=coverage)
    return row


def sweep(models: Sequence[str], temperatures: Sequence[float], n: int, sample: Sampler,
          references: Sequence[Sequence[str]], oracle: Oracle | None = None,
          progress: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Rows for every (model, temperature): ``sample(model, temperature, n)`` draws the token
    lists (and owns the seeding, so the sweep is reproducible)."""
    rows = []
    for model in models:
        for t in temperatures:
            if progress is not None:
                progress(f"quality-diversity: {model} at temperature {t:g}")
            rows.append(qd_row(model, t, sample(model, t, n), references, oracle))
    return rows
