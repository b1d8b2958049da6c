"""Length matching: a generator's samples read, or drawn, at the data's length distribution.

A generator can move up the quality-diversity chart by writing shorter sentences (fewer 5-grams
to get wrong), or fall under it when its short sentences are its worst ones. Measured on COCO,
WordNet and the built-in grammar, the relaxed GANs wrote sentences 1-2 words shorter than MLE and
the data. Length is a property the decoder can fix without training, as temperature fixes
entropy, so the honest comparison holds it equal:

- **read** (:func:`length_weights`): BLEU-5 and self-BLEU-5 are means of per-sentence scores, so
  they can be re-read as if the samples had the references' length distribution. Each sample
  weighs q(s) / count(s): the share of the references in its length stratum s over the number of
  samples there (importance weighting by length). The quality-diversity sweep writes these as
  ``bleu5_lm`` / ``self_bleu5_lm`` beside the plain figures;
- **draw** (:class:`LengthMatched`, ``evaluate.length_match``): the generator draws a pool of
  ``pool_factor * n`` samples and keeps n of them, stratum by stratum, in the shares of the
  *training* sentences' lengths (:func:`stratified_select`: stratified sampling without
  replacement). The result is a generator like any other (rows ``mle_lm`` / ``gan_lm`` with
  every figure, FID included, and their own curves); no test sentence enters it.

Strata are the deciles of the reference lengths (integer edges, merged where lengths tie), so no
stratum weighs much more than a tenth and a few long samples cannot carry the estimate. A stratum
the samples never reach drops out: ``coverage`` is the references' share in the strata they do
reach (1.0 = all); when drawing, its quota goes to the other strata in proportion to their shares.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from gantext.configfields import param
from gantext.metrics.resample import PoolSelection
from gantext.models.generator import Generator

__all__ = ["LENGTH_STRATA", "LengthMatchConfig", "LengthMatched", "length_matched",
           "length_weights", "stratified_select", "weighted_mean"]

#: length strata: quantiles of the reference lengths
LENGTH_STRATA = 10


@dataclass(frozen=True)
class LengthMatchConfig:
    """``evaluate.length_match``: draw both generators at the training sentences' lengths."""

    enabled: bool = param(False, help="add the mle_lm and gan_lm rows and curves")
    pool_factor: int = param(5, ge=1, help="pool samples drawn per kept sample")


def _strata(lengths: Sequence[int], ref_lengths: Sequence[int], strata: int
            ) -> tuple[np.ndarray, np.ndarray]:
    """(stratum of each length, share of the references in each stratum)."""
    ref = np.asarray(ref_lengths, dtype=np.int64)
    lens = np.asarray(lengths, dtype=np.int64)
    if ref.size == 0:
        raise ValueError("length matching needs at least one reference length")
    # inner edges: a stratum is [edge_k, edge_k+1); unique, so tied lengths share a stratum;
    # a length below or above every reference falls in the first or last stratum
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, strata + 1)[1:-1], method="lower") + 1)
    shares = np.bincount(np.searchsorted(edges, ref, side="right"),
                         minlength=len(edges) + 1) / ref.size
    return np.searchsorted(edges, lens, side="right"), shares


def length_weights(lengths: Sequence[int], ref_lengths: Sequence[int],
                   strata: int = LENGTH_STRATA) -> tuple[np.ndarray, float]:
    """Importance weights that give `lengths` the length distribution of `ref_lengths`:
    (weights summing to 1, coverage). See the module docstring."""
    if len(lengths) == 0:
        raise ValueError("length_weights needs at least one sample")
    stratum, q = _strata(lengths, ref_lengths, strata)
    count = np.bincount(stratum, minlength=len(q))
    covered = count > 0
    w = np.where(covered, q / np.maximum(count, 1), 0.0)[stratum]
    return w / w.sum(), float(q[covered].sum())


def weighted_mean(values: np.ndarray, weights: np.ndarray) -> float:
    """sum(values * weights), correctly rounded (weights already sum to 1)."""
    return math.fsum((np.asarray(values) * weights).tolist())


def _quotas(n: int, shares: np.ndarray, available: np.ndarray) -> np.ndarray:
    """`n` kept samples split over strata in proportion to `shares` (largest remainder), no
    stratum above what it has; a stratum's shortfall goes to the others by their shares."""
    take = np.zeros(len(shares), dtype=np.int64)
    open_ = (available > 0) & (shares > 0)
    while (left := n - int(take.sum())) > 0:
        if not open_.any():  # only strata the references never use have samples left
            open_ = available > take
        want = shares * open_
        want = want / want.sum() * left if want.sum() > 0 else open_ / open_.sum() * left
        add = np.floor(want).astype(np.int64)
        rest = left - int(add.sum())
        add[np.argsort(-(want - add), kind="stable")[:rest]] += 1
        take = np.minimum(take + add, available)
        open_ &= take < available
    return take


def stratified_select(lengths: Sequence[int], ref_lengths: Sequence[int], n: int,
                      rng: np.random.Generator, strata: int = LENGTH_STRATA) -> np.ndarray:
    """Indices (ascending) of `n` pool samples whose length strata follow `ref_lengths`' shares,
    drawn without replacement, uniformly within each stratum."""
    if n > len(lengths):
        raise ValueError(f"cannot keep {n} of a pool of {len(lengths)} samples")
    stratum, q = _strata(lengths, ref_lengths, strata)
    available = np.bincount(stratum, minlength=len(q))
    take = _quotas(n, q, available)
    kept = [rng.permutation(np.flatnonzero(stratum == s))[:k] for s, k in enumerate(take) if k]
    return np.sort(np.concatenate(kept)) if kept else np.zeros(0, dtype=np.int64)


class LengthMatched(PoolSelection):
    """A generator drawn at the training sentences' lengths (module docstring)."""

    def __init__(self, generator: Generator, ref_lengths: Sequence[int], cfg: LengthMatchConfig):
        if len(ref_lengths) == 0:
            raise ValueError("LengthMatched needs the training sentences' lengths; got none")
        super().__init__(generator, cfg.pool_factor)
        self.cfg = cfg
        self.ref_lengths = np.asarray(ref_lengths, dtype=np.int64)

    def keep(self, rows: torch.Tensor, lens: torch.Tensor, n: int, rng: np.random.Generator
             ) -> np.ndarray:
        return stratified_select(lens.cpu().numpy(), self.ref_lengths, n, rng)


def length_matched(generators: Mapping[str, Generator], train: Sequence[Sequence[str]],
                   cfg: LengthMatchConfig) -> dict[str, LengthMatched]:
    """``{name + "_lm": generator drawn at the lengths of the `train` sentences}`` for each of
    `generators` (the rows ``mle_lm`` / ``gan_lm`` of ``evaluate.length_match``)."""
    lengths = [len(s) for s in train]
    return {f"{name}_lm": LengthMatched(g, lengths, cfg) for name, g in generators.items()}
