"""Exact BLEU / self-BLEU against nltk itself (the oracle): equal bit for bit, not just close."""

from __future__ import annotations

import math
import random

import pytest
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

from gantext.metrics.bleu import bleu, self_bleu, self_sentence_scores, sentence_scores

SMOOTH = SmoothingFunction().method1
NS_ALL = (1, 2, 3, 4, 5, 6)


def nltk_bleu(refs, hyp, n):
    return sentence_bleu(refs, hyp, weights=(1 / n,) * n, smoothing_function=SMOOTH)


def assert_matches_nltk(hyps, refs, ns=NS_ALL):
    fast = sentence_scores(hyps, refs, ns)
    for n in ns:
        expected = [nltk_bleu(refs, h, n) for h in hyps]
        assert fast[n].tolist() == expected, f"BLEU-{n}"


def assert_self_matches_nltk(samples, ns=NS_ALL):
    fast = self_sentence_scores(samples, ns)
    for n in ns:
        expected = [nltk_bleu(samples[:i] + samples[i + 1:], s, n) for i, s in enumerate(samples)]
        assert fast[n].tolist() == expected, f"self-BLEU-{n}"


def random_corpus(rng, count, vocab, max_len, min_len=0):
    return [[f"w{rng.randrange(vocab)}" for _ in range(rng.randint(min_len, max_len))] for _ in range(count)]


@pytest.mark.parametrize("seed", range(6))
def test_random_small_corpora_bit_identical(seed):
    rng = random.Random(seed)
    vocab = [1, 2, 3, 5, 8, 20][seed]  # small vocabularies so n-grams (and counts) repeat
    hyps = random_corpus(rng, 15, vocab, 12)
    refs = random_corpus(rng, rng.randint(1, 12), vocab, 12)
    assert_matches_nltk(hyps, refs)
    assert_self_matches_nltk(hyps)


def test_means_match_nltk():
    rng = random.Random(42)
    hyps = random_corpus(rng, 30, 6, 10, min_len=1)
    refs = random_corpus(rng, 20, 6, 10, min_len=1)
    got, got_self = bleu(hyps, refs), self_bleu(hyps)
    assert list(got) == [2, 3, 4, 5] and list(got_self) == [2, 3, 4, 5]
    for n in (2, 3, 4, 5):
        scores = [nltk_bleu(refs, h, n) for h in hyps]
        self_scores = [nltk_bleu(hyps[:i] + hyps[i + 1:], h, n) for i, h in enumerate(hyps)]
        # the documented mean: correctly rounded sum / count; any summation order is within 1e-12
        assert got[n] == math.fsum(scores) / len(scores)
        assert got_self[n] == math.fsum(self_scores) / len(self_scores)
        assert abs(got[n] - sum(scores) / len(scores)) < 1e-12


def test_empty_hypothesis_scores_zero():
    refs = [["a", "cat", "sits"], ["a", "dog"]]
    assert_matches_nltk([[], ["a"], ["a", "cat"]], refs)
    assert sentence_scores([[]], refs)[4].tolist() == [0.0]
    assert_self_matches_nltk([[], ["a", "cat"], ["a", "cat", "sits"], []])


def test_hypothesis_longer_than_all_references():
    refs = [["a", "b"], ["b", "c", "d"]]
    hyps = [["a", "b", "c", "d", "a", "b", "c", "d"], ["x", "y", "z", "a", "b", "c", "d"]]
    assert_matches_nltk(hyps, refs)


def test_hypotheses_shorter_than_n():
    refs = [["the", "cat", "sat", "on", "the", "mat"], ["a", "cat"]]
    hyps = [["the"], ["the", "cat"], ["cat", "sat", "on"], ["zzz"], ["zzz", "cat"]]
    assert_matches_nltk(hyps, refs)
    assert_self_matches_nltk(hyps + refs)


def test_repeated_ngrams_in_hypothesis_are_clipped():
    refs = [["the", "cat", "the", "cat", "on", "the", "mat"], ["the", "the", "the"]]
    hyps = [["the"] * 7, ["the", "cat"] * 4, ["the", "the", "cat", "the", "the", "cat"]]
    assert_matches_nltk(hyps, refs)
    assert_self_matches_nltk(hyps + refs)


def test_closest_reference_length_ties_go_to_the_shorter():
    # a length-5 hypothesis is equally far from 3 and 7: nltk picks 3 (no brevity penalty)
    refs = [list("abc"), list("abcdefg")]
    hyps = [list("abcde"), list("abxde"), list("ab"), list("abcdefgh"), list("abcdefxyz")]
    assert_matches_nltk(hyps, refs)
    fast = sentence_scores([list("abcde")], [list("abcdefg")], (2,))[2][0]
    tied = sentence_scores([list("abcde")], refs, (2,))[2][0]
    assert tied > fast  # the tie resolved to length 3 removed the brevity penalty
    # leave-one-out: own length removed once; lengths 3, 5, 7 -> the 5 ties and takes 3
    assert_self_matches_nltk([list("abc"), list("abcde"), list("abcdefg"), list("bcd"), list("xbcde")])


def test_self_bleu_duplicates_tie_for_the_top_count():
    s = ["a", "b", "a", "b", "c"]
    samples = [s, list(s), ["a", "b", "c"], list(s), ["c", "a", "b"], ["a", "b", "a", "b", "a", "b"]]
    assert_self_matches_nltk(samples)
    # two copies: each is a perfect reference for the other
    pair = self_sentence_scores([s, list(s)], (2, 4))
    assert pair[2].tolist() == [1.0, 1.0] and pair[4].tolist() == [1.0, 1.0]


def test_self_bleu_unique_top_owner_falls_back_to_second_count():
    samples = [["x"] * 6, ["x"] * 3, ["x", "y"], ["y"] * 4]
    assert_self_matches_nltk(samples)


def test_empty_reference_sentences():
    hyps = [["a", "b"], [], ["a"], ["c", "c", "c"]]
    assert_matches_nltk(hyps, [[], ["a", "b", "c"]])
    assert_matches_nltk(hyps, [[]])  # only empty references: closest length 0, no matches
    assert_self_matches_nltk(hyps + [[]])


def test_single_sample_self_bleu_raises_like_nltk():
    # nltk has no answer either: an empty reference list fails inside sentence_bleu
    with pytest.raises((KeyError, ValueError)):
        nltk_bleu([], ["a", "b"], 2)
    with pytest.raises(ValueError, match="at least 2 samples"):
        self_bleu([["a", "b"]])
    with pytest.raises(ValueError, match="at least 2 samples"):
        self_bleu([])


def test_empty_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="reference set is empty"):
        bleu([["a"]], [])
    with pytest.raises(ValueError, match="0 hypotheses"):
        bleu([], [["a"]])
    with pytest.raises(ValueError, match="n-gram orders"):
        bleu([["a"]], [["a"]], ns=(0, 2))


def test_any_hashable_tokens_and_input_types():
    hyps = [(1, 2, 3, 1, 2), (3, 3)]
    refs = [(1, 2, 3), (2, 3, 3, 1)]
    assert_matches_nltk([list(h) for h in hyps], [list(r) for r in refs])
    assert sentence_scores(hyps, refs)[3].tolist() == sentence_scores(
        [[str(t) for t in h] for h in hyps], [[str(t) for t in r] for r in refs]
    )[3].tolist()


def test_larger_random_corpus_with_realistic_lengths():
    rng = random.Random(7)
    refs = random_corpus(rng, 60, 25, 14, min_len=3)
    hyps = random_corpus(rng, 40, 25, 14, min_len=0)
    assert_matches_nltk(hyps, refs, ns=(2, 3, 4, 5))
    assert_self_matches_nltk(hyps, ns=(2, 3, 4, 5))
