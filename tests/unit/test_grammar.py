"""The review grammar: sampler and exact oracle (validity, probability, mode)."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict

import numpy as np
import pytest
from nltk.tokenize import NLTKWordTokenizer

from gantext.corpus.grammar import (MODES, Alt, Opt, ReviewGrammar, Seq, alt, default_grammar, opt,
                                    seq)


def derivations(e):
    """Every (tokens, probability) derivation of an expression, straight from its definition."""
    if isinstance(e, str):
        yield tuple(e.split()), 1.0
    elif isinstance(e, Seq):
        parts = [list(derivations(it)) for it in e.items]
        for combo in itertools.product(*parts):
            yield sum((t for t, _ in combo), ()), math.prod(p for _, p in combo)
    elif isinstance(e, Alt):
        total = sum(e.weights)
        for w, it in zip(e.weights, e.items):
            for t, p in derivations(it):
                yield t, p * w / total
    elif isinstance(e, Opt):
        yield (), 1.0 - e.p
        for t, p in derivations(e.item):
            yield t, p * e.p


# A tiny grammar with ambiguity inside a mode ("a b c" two ways) and across modes ("x y z" is
# both 'good' and 'meh'), with optional parts and uneven weights.
SMALL = {
    "good": (0.5, alt((2, seq("a", opt("b", 0.3), "c")), seq("a b", opt("c", 0.6)), "x y z",
                      seq(alt("p", "q", (3, "r")), "s", opt(alt("t", "u"), 0.25)))),
    "bad": (0.3, seq(alt("d", "e"), opt("f g", 0.4), alt("h", (4, "i")))),
    "meh": (0.2, alt("x y z", (3, "x y"), seq("w", opt("w", 0.5), opt("w", 0.5)))),
}


def small_language():
    """Exact P(sentence, mode) by enumerating derivations independently of the compiler."""
    joint = defaultdict(float)
    total = sum(w for w, _ in SMALL.values())
    for mode, (w, expr) in SMALL.items():
        for toks, p in derivations(expr):
            joint[toks, mode] += p * w / total
    return joint


def test_small_grammar_probabilities_are_exact_and_sum_to_one():
    g = ReviewGrammar(SMALL, name="small")
    joint = small_language()
    sentences = {s for s, _ in joint}
    total = 0.0
    for s in sentences:
        valid, logp, mode = g.score(s)
        assert valid
        per_mode = {m: joint.get((s, m), 0.0) for m in g.modes}
        assert math.exp(logp) == pytest.approx(sum(per_mode.values()), rel=1e-12, abs=0)
        assert mode == max(g.modes, key=lambda m: (per_mode[m], -g.modes.index(m)))
        total += math.exp(logp)
    assert total == pytest.approx(1.0, abs=1e-9)
    # ambiguity is summed, not maximised: "a b c" has two derivations in mode 'good'
    assert math.exp(g.score("a b c".split())[1]) == pytest.approx(
        0.5 * (2 / 5 * 0.3 + 1 / 5 * 0.6), rel=1e-12)
    # "x y z" belongs to two modes; the more probable one wins
    assert g.score("x y z".split())[2] == "good"
    counts = g.count_sentences()
    assert counts["all"] == len(sentences)
    for m in g.modes:
        assert counts[m] == sum(1 for _, mm in joint if mm == m)
    assert g.mode_overlap() == 1
    assert g.length_range == (min(map(len, sentences)), max(map(len, sentences)))


def test_small_grammar_sampling_matches_probabilities():
    g = ReviewGrammar(SMALL, name="small")
    sents, modes = g.sample_with_modes(20000, seed=1)
    joint = small_language()
    freq = defaultdict(int)
    for s, m in zip(sents, modes):
        assert joint[tuple(s), m] > 0  # generated in the mode it is reported in
        freq[tuple(s)] += 1
    for s in {s for s, _ in joint}:
        p = sum(v for (t, _), v in joint.items() if t == s)
        # 5 standard deviations of a binomial proportion
        assert abs(freq[s] / 20000 - p) < 5 * math.sqrt(p * (1 - p) / 20000) + 1e-4


@pytest.mark.parametrize("tokens", [[], ["a"], ["a", "c", "c"], ["zzz"], ["w", "w", "w", "w"],
                                    ["x", "y", "z", "z"]])
def test_small_grammar_invalid_sequences_have_probability_zero(tokens):
    g = ReviewGrammar(SMALL, name="small")
    assert g.score(tokens) == (False, -math.inf, None)
    valid, logp, modes = g.score_many([tokens])
    assert not valid[0] and logp[0] == -math.inf and modes[0] is None


@pytest.fixture(scope="module")
def grammar():
    return default_grammar()


@pytest.fixture(scope="module")
def samples(grammar):
    return grammar.sample_with_modes(3000, seed=7)


def test_builtin_grammar_size(grammar):
    assert grammar.modes == MODES and len(MODES) >= 3
    assert len(grammar.vocabulary) >= 300
    assert grammar.length_range[0] >= 4 and grammar.length_range[1] <= 30
    counts = grammar.count_sentences()
    assert counts["all"] > 10**6
    assert all(counts[m] > 0 for m in MODES)
    # the modes' languages are disjoint, so a sentence's mode is the one that can produce it
    assert grammar.mode_overlap() == 0


def test_builtin_samples_are_valid_with_their_mode(grammar, samples):
    sents, modes = samples
    valid, logp, got = grammar.score_many(sents)
    assert valid.all() and np.isfinite(logp).all() and (logp < 0).all()
    assert got == modes
    assert set(modes) == set(MODES)
    assert all(4 <= len(s) <= 30 for s in sents)
    assert all(t == t.lower() for s in sents for t in s)
    for s in sents[:200]:  # the batched form is exactly the one-by-one form
        v, lp, m = grammar.score(s)
        assert v and m == got[sents.index(s)]
        assert lp == pytest.approx(logp[sents.index(s)], abs=1e-9)


def test_builtin_sampling_is_seeded(grammar):
    assert grammar.sample(50, seed=3) == grammar.sample(50, seed=3)
    assert grammar.sample(50, seed=3) != grammar.sample(50, seed=4)
    assert len({" ".join(s) for s in grammar.sample(2000, seed=0)}) > 1500


def test_builtin_tokens_are_stable_under_nltk(grammar, samples):
    tok = NLTKWordTokenizer()
    for w in grammar.vocabulary:
        assert tok.tokenize(w) == [w], w
    for s in samples[0]:
        assert tok.tokenize(" ".join(s)) == s


@pytest.mark.parametrize("text, mode", [
    ("the espresso is incredibly rich and never bitter .", "positive"),
    ("five stars , no regrets !", "positive"),
    ("the grinder is painfully loud .", "negative"),
    ("customer support never replied .", "negative"),
    ("great machine , terrible app .", "mixed"),
    ("although the steam wand is solid , the glass carafe cracked within a week .", "mixed"),
    ("i descale it once a month .", "neutral"),
    ("i switched from a french press .", "neutral"),
])
def test_builtin_modes(grammar, text, mode):
    valid, logp, got = grammar.score(text.split())
    assert valid and got == mode and logp > -math.inf


@pytest.mark.parametrize("text", [
    "the espresso is incredibly rich and never bitter",      # missing the final period
    "the espresso is incredibly rich and never bitter . .",  # one token too many
    "the espresso is bitter and never bitter .",              # positive tail on a negative clause
    "great machine , terrible app , but i love the design .",
    "The grinder is painfully loud .",                        # upper case is not in the grammar
    "",
])
def test_builtin_invalid(grammar, text):
    assert grammar.score(text.split()) == (False, -math.inf, None)
