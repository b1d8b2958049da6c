"""Like with like: the sample-size rule, the scoring of any sample set, and the real-data row.

The sample-size rule (one rule, used by the headline rows, the quality-diversity sweep, the
summary and the README)
-------------------------------------------------------------------------------------------
Every figure that depends on the number of sentences (self-BLEU, distinct-n, unique, FID) is
measured at the *same* n for the models and for the real data:

- the **real sample** is drawn (seeded, without replacement) from the **held-out pool**: the real
  sentences outside the reference split -- train + valid when ``evaluate.split`` is ``test``,
  train alone when it is ``valid`` (the test split is never read then). Never from the
  reference split itself, so its BLEU and FID are the exact counterparts of a model's;
- ``n = min(evaluate.num_samples, pool size)`` sentences per model *and* for the real row
  (``n_sweep = min(evaluate.sweep_samples, pool size)`` for every point of the sweep); a warning
  says when the pool caps n. The sizes are written beside the figures (``n_samples``,
  ``n_refs``, ``pool_size``);
- the sweep's ``real`` point is the first ``n_sweep`` sentences of the same real sample as the
  headline real row (one draw, one pool).

A model is scored against all reference sentences (``n_refs``), and so is the real sample.

Figures of one sample set (:meth:`Ruler.score`)
------------------------------------------------
BLEU-n against all references, leave-one-out self-BLEU-n, FID against the references, each with
a bootstrap interval (:mod:`gantext.metrics.bootstrap`). The references' feature Gaussian is
computed once and shared by every row.

The real row (:func:`real_metrics`, block ``real.*``)
-----------------------------------------------------
The real sample scored like a model: BLEU-n, self-BLEU-n, distinct-n, unique, len; ``fid_floor``
= FID(references, real sample of n) -- the exact counterpart of a model's ``fid`` (what a
generator that reproduces its training distribution perfectly would score; on a corpus whose
train and test differ in topic, e.g. COCO, that shift is part of it). ``fid_halves`` = FID
between two seeded halves of the reference split (``n_halves`` each): the old "floor", at another
size, kept for the shuffle diagnostic (``fid_shuffle_ratio``). ``novelty`` = fraction of the
reference sentences that are not training sentences (the real sample itself comes partly from
train, so its novelty would be 0 by construction; novelty is a mean and does not depend on n).
With the grammar oracle: validity, oracle NLL, ``oracle_invalid`` of the real sample and
``mode_js`` of the real sample against the reference split (the sampling-noise floor of
``mode_js`` at n).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from gantext.errors import DataError
from gantext.metrics.bleu import self_sentence_scores, sentence_scores
from gantext.metrics.bootstrap import fid_replicates, indices, interval, mean_replicates
from gantext.metrics.diversity import DISTINCT_NS, distinct_n, novelty, unique_fraction
from gantext.metrics.fid import (FeatureExtractor, fid, frechet_distance, gaussian, halves,
                                 shuffle_ratio)

__all__ = ["NS", "Ruler", "Scored", "sample_sizes", "real_order", "real_metrics"]

NS = (2, 3, 4, 5)

Sents = Sequence[Sequence[str]]


def sample_sizes(num_samples: int, sweep_samples: int, pool_size: int,
                 warn: Callable[[str], None] | None = None) -> tuple[int, int]:
    """(n, n_sweep) under the sample-size rule (module docstring)."""
    if pool_size < 2:
        raise DataError(f"the held-out pool (real sentences outside the reference split) has "
                        f"{pool_size} sentence(s); the real reference row needs at least 2: use a "
                        "larger corpus")
    n, n_sweep = min(num_samples, pool_size), min(sweep_samples, pool_size)
    if warn is not None and (n < num_samples or n_sweep < sweep_samples):
        warn(f"only {pool_size} held-out real sentences: models and real data are all scored on "
             f"n = {n} samples (evaluate.num_samples {num_samples}) and the sweep on {n_sweep} "
             f"(evaluate.sweep_samples {sweep_samples}), so the real row stays comparable")
    return n, n_sweep


def real_order(pool: Sents, seed: int) -> list[list[str]]:
    """The pool in a seeded random order: its first n sentences are the real sample of size n
    (so the sweep's real point is a prefix of the headline real sample)."""
    order = np.random.default_rng(seed).permutation(len(pool))
    return [list(pool[i]) for i in order]


def _fmean(values: np.ndarray) -> float:
    """Correctly rounded mean (as :func:`gantext.metrics.bleu.bleu` computes it)."""
    return math.fsum(values.tolist()) / len(values)


class Scored:
    """Figures of one sample set, with their bootstrap replicates (for delta intervals)."""

    def __init__(self) -> None:
        self.metrics: dict[str, Any] = {}
        self.reps: dict[str, np.ndarray] = {}

    def add(self, key: str, value: float, reps: np.ndarray) -> None:
        self.metrics[key] = float(value)
        self.reps[key] = reps
        self.metrics[f"{key}_lo"], self.metrics[f"{key}_hi"] = interval(value, reps)


class Ruler:
    """The fixed side of every comparison: the references, their FID Gaussian, the extractor;
    and, when given, the held-out sentences of the *training* distribution (the validation
    split; the FID criterion reads against them, see :mod:`gantext.evaluation`)."""

    def __init__(self, refs: Sents, extractor: FeatureExtractor, heldout: Sents | None = None,
                 mauve: bool = False):
        self.refs = [list(s) for s in refs]
        self.extractor = extractor
        self.ref_feats = extractor.transform(self.refs)
        self.ref_gauss = gaussian(self.ref_feats, "the reference split")
        self.held_feats = self.held_gauss = None
        if heldout is not None and len(heldout) >= 2:
            self.held_feats = extractor.transform([list(s) for s in heldout])
            self.held_gauss = gaussian(self.held_feats, "the held-out training-distribution split")
        self.mauve = mauve

    def score(self, sents: Sents, boot_seed: int, fid_key: str = "fid",
              held_key: str | None = "fid_train") -> Scored:
        """BLEU-n, self-BLEU-n and FID (under `fid_key`) of `sents` with bootstrap intervals, and
        the sizes ``n_samples`` / ``n_refs``; FID against the held-out training-distribution
        sentences under `held_key` (when the ruler has them and `held_key` is not None) and, with
        ``mauve``, ``mauve_test`` (against the references) and ``mauve`` (against the held-out
        sentences, under `held_key`'s condition)."""
        if len(sents) < 2:
            raise DataError(f"{len(sents)} sample(s): self-BLEU and FID need at least 2")
        out = Scored()
        idx = indices(len(sents), boot_seed)
        bl = sentence_scores(sents, self.refs, NS)
        sb = self_sentence_scores(sents, NS)
        for name, scores in (("bleu", bl), ("sbleu", sb)):
            for n in NS:
                out.add(f"{name}{n}", _fmean(scores[n]), mean_replicates(scores[n], idx))
        feats = self.extractor.transform(sents)
        self._add_fid(out, fid_key, self.ref_gauss, feats, idx)
        if held_key is not None:
            self.score_heldout(out, feats, idx, held_key)
        if self.mauve:
            from gantext.metrics.mauve_score import mauve

            out.metrics["mauve_test"] = mauve(self.ref_feats, feats)
        out.metrics["n_samples"] = len(sents)
        out.metrics["n_refs"] = len(self.refs)
        return out

    def score_heldout(self, out: Scored, feats: np.ndarray, idx: np.ndarray,
                      key: str = "fid_train") -> None:
        """Add FID (with its interval) and MAUVE of `feats` against the held-out
        training-distribution sentences to `out`; nothing when the ruler has none."""
        if self.held_gauss is None:
            return
        self._add_fid(out, key, self.held_gauss, feats, idx)
        out.metrics["n_heldout"] = len(self.held_feats)
        if self.mauve:
            from gantext.metrics.mauve_score import mauve

            out.metrics["mauve"] = mauve(self.held_feats, feats)

    @staticmethod
    def _add_fid(out: Scored, key: str, ref: tuple[np.ndarray, np.ndarray], feats: np.ndarray,
                 idx: np.ndarray) -> None:
        mu, cov = gaussian(feats, "the sample set")
        with warnings.catch_warnings():
            # replicates of a collapsed generator are singular: the exact PSD root handles it
            warnings.simplefilter("ignore", RuntimeWarning)
            reps = fid_replicates(ref, feats, idx)
        out.add(key, frechet_distance(*ref, mu, cov), reps)


def real_metrics(ruler: Ruler, real_sample: Sents, train: Sents, boot_seed: int,
                 halves_seed: int, pool_size: int, oracle: Any = None,
                 train_sample: Sents | None = None) -> Scored:
    """The real-data row (module docstring); `oracle` is the evaluation's OracleContext or None
    (validity, oracle NLL and ``mode_js`` of the real sample). `train_sample`: real sentences
    from the train split alone (none of the held-out training-distribution sentences), the
    counterpart of a model against those: ``fid_train_floor`` (and ``mauve``)."""
    row = ruler.score(real_sample, boot_seed, fid_key="fid_floor", held_key=None)
    if train_sample is not None and len(train_sample) >= 2:
        ruler.score_heldout(row, ruler.extractor.transform(train_sample),
                            indices(len(train_sample), boot_seed), key="fid_train_floor")
    m = row.metrics
    m["pool_size"] = int(pool_size)
    a, b = halves(ruler.refs, halves_seed)
    m["fid_halves"] = fid(ruler.extractor, a, b)
    m["n_halves"] = len(a)
    m["fid_shuffle_ratio"] = shuffle_ratio(ruler.extractor, ruler.refs, halves_seed)
    for n in DISTINCT_NS:
        m[f"distinct_{n}"] = distinct_n(real_sample, n)
    m["unique"] = unique_fraction(real_sample)
    m["novelty"] = novelty(ruler.refs, train)
    m["len"] = float(np.mean([len(s) for s in real_sample]))
    if oracle is not None:
        om = oracle.metrics(real_sample)
        om.pop("modes")
        m.update(om)
    return row
