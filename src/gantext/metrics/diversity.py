"""Diversity of a sample set: distinct-n, unique samples, novelty against the training set.

All functions take sentences as token lists and compare tokens exactly (no normalisation: the
samples and the training split come out of the same tokenizer and vocabulary).

* ``distinct_n``: unique n-grams / total n-grams, pooled over all samples (Li et al., 2016). A
  sentence shorter than n contributes no n-gram; a set without any n-gram scores 0.
* ``unique_fraction``: distinct samples / samples (1.0 = no sample repeated).
* ``novelty``: samples that are not a training sentence / samples (1.0 = nothing memorised).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from gantext.errors import DataError

__all__ = ["distinct_n", "unique_fraction", "novelty", "diversity_metrics", "DISTINCT_NS"]

#: n of the distinct-n metrics reported by :func:`diversity_metrics`.
DISTINCT_NS = (1, 2, 3, 4)


def _check_nonempty(sents: Sequence[Sequence[str]], what: str) -> None:
    if len(sents) == 0:
        raise DataError(f"{what}: no samples to measure")


def _ngrams(tokens: Sequence[str], n: int) -> Iterable[tuple[str, ...]]:
    return zip(*(tokens[i:] for i in range(n)))


def distinct_n(sents: Sequence[Sequence[str]], n: int) -> float:
    """Unique n-grams / total n-grams over all samples (0.0 when there is no n-gram)."""
    if n < 1:
        raise ValueError(f"distinct_n: n must be >= 1, got {n}")
    _check_nonempty(sents, f"distinct_{n}")
    seen: set[tuple[str, ...]] = set()
    total = 0
    for s in sents:
        grams = list(_ngrams(s, n))
        total += len(grams)
        seen.update(grams)
    return len(seen) / total if total else 0.0


def unique_fraction(sents: Sequence[Sequence[str]]) -> float:
    """Fraction of distinct samples: len(set(samples)) / len(samples)."""
    _check_nonempty(sents, "unique_fraction")
    return len({tuple(s) for s in sents}) / len(sents)


def novelty(sents: Sequence[Sequence[str]],
            train: Sequence[Sequence[str]] | set[tuple[str, ...]]) -> float:
    """Fraction of samples that do not occur in the training set (counted with repeats).

    `train` may be given as a prebuilt set of token tuples to reuse across calls.
    """
    _check_nonempty(sents, "novelty")
    known = train if isinstance(train, (set, frozenset)) else {tuple(t) for t in train}
    return sum(tuple(s) not in known for s in sents) / len(sents)


def diversity_metrics(samples: Sequence[Sequence[str]],
                      train: Sequence[Sequence[str]]) -> dict[str, float]:
    """``distinct_1`` .. ``distinct_4``, ``unique`` and ``novelty`` of `samples`."""
    out = {f"distinct_{n}": distinct_n(samples, n) for n in DISTINCT_NS}
    out["unique"] = unique_fraction(samples)
    out["novelty"] = novelty(samples, train)
    return out
