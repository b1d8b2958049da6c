"""Diversity metrics against hand-computed values."""

from __future__ import annotations

import pytest

from gantext.errors import DataError
from gantext.metrics.diversity import diversity_metrics, distinct_n, novelty, unique_fraction

S = [
    "the cat sat".split(),
    "the cat sat".split(),
    "a dog".split(),
    "the dog sat down".split(),
]
TRAIN = ["the cat sat".split(), "a cat".split()]


def test_distinct_n_by_hand() -> None:
    # unigrams: 3 + 3 + 2 + 4 = 12 tokens; unique {the, cat, sat, a, dog, down} = 6
    assert distinct_n(S, 1) == 6 / 12
    # bigrams: (the cat)(cat sat) x2, (a dog), (the dog)(dog sat)(sat down) = 8; unique 6
    assert distinct_n(S, 2) == 6 / 8
    # trigrams: (the cat sat) x2, (the dog sat)(dog sat down) = 4; unique 3; "a dog" has none
    assert distinct_n(S, 3) == 3 / 4
    # 4-grams: only (the dog sat down)
    assert distinct_n(S, 4) == 1.0
    assert distinct_n(S, 5) == 0.0  # no 5-gram anywhere


def test_repeated_ngrams_within_one_sentence() -> None:
    assert distinct_n([["a", "a", "a", "a"]], 1) == 1 / 4
    assert distinct_n([["a", "a", "a", "a"]], 2) == 1 / 3


def test_unique_and_novelty_by_hand() -> None:
    assert unique_fraction(S) == 3 / 4
    # "the cat sat" (twice) is a training sentence; "a dog" and "the dog sat down" are new
    assert novelty(S, TRAIN) == 2 / 4
    assert novelty(S, {tuple(t) for t in TRAIN}) == 2 / 4  # prebuilt set
    assert novelty([["a"]], [["a", "cat"]]) == 1.0  # a prefix of a training sentence is novel


def test_diversity_metrics_keys_and_values() -> None:
    m = diversity_metrics(S, TRAIN)
    assert list(m) == ["distinct_1", "distinct_2", "distinct_3", "distinct_4", "unique", "novelty"]
    assert m == {"distinct_1": 0.5, "distinct_2": 0.75, "distinct_3": 0.75, "distinct_4": 1.0,
                 "unique": 0.75, "novelty": 0.5}
    assert all(isinstance(v, float) for v in m.values())


def test_errors() -> None:
    with pytest.raises(DataError, match="no samples"):
        diversity_metrics([], TRAIN)
    with pytest.raises(ValueError, match="n must be"):
        distinct_n(S, 0)
