"""Grammar-oracle metrics: JS divergence (bits), validity, oracle NLL, mode distribution."""

import math

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon

from gantext.corpus.grammar import MODES, default_grammar
from gantext.metrics.oracle import js_divergence, mode_counts, mode_distribution, oracle_metrics


class FakeOracle:
    """Accepts sentences in a table {tuple(tokens): (ln p, mode)}; everything else is invalid."""

    def __init__(self, table):
        self.table = table

    def score_many(self, sents):
        out = [self.table.get(tuple(s)) for s in sents]
        valid = np.array([o is not None for o in out])
        logp = np.array([o[0] if o else -math.inf for o in out])
        return valid, logp, [o[1] if o else None for o in out]


def test_js_identical_is_zero_and_symmetric():
    p = [3, 1, 0, 6]
    assert js_divergence(p, p) == 0.0
    assert js_divergence(p, [6, 2, 0, 12]) == 0.0  # normalised first
    q = [1, 1, 1, 1]
    assert js_divergence(p, q) == pytest.approx(js_divergence(q, p), abs=1e-15)


def test_js_known_values_in_bits():
    assert js_divergence([1, 0], [0, 1]) == 1.0  # disjoint supports: the maximum in base 2
    # p=(.5,.5), q=(1,0): m=(.75,.25); JS = (KL(p|m) + KL(q|m)) / 2 by hand
    by_hand = 0.5 * (0.5 * math.log2(0.5 / 0.75) + 0.5 * math.log2(0.5 / 0.25)) \
        + 0.5 * math.log2(1 / 0.75)
    assert js_divergence([0.5, 0.5], [1, 0]) == pytest.approx(by_hand, abs=1e-15)
    assert by_hand == pytest.approx(0.311278124459, abs=1e-12)
    rng = np.random.default_rng(0)
    for _ in range(5):
        p, q = rng.random(6), rng.random(6)
        assert js_divergence(p, q) == pytest.approx(jensenshannon(p, q, base=2) ** 2, abs=1e-12)


def test_js_rejects_bad_input():
    with pytest.raises(ValueError):
        js_divergence([0, 0], [1, 0])
    with pytest.raises(ValueError):
        js_divergence([1, 2], [1, 2, 3])


def test_mode_distribution_skips_invalid_and_rejects_unknown():
    assert mode_distribution(["b", None, "a", "b"], ("a", "b", "c")).tolist() == [1, 2, 0]
    with pytest.raises(ValueError, match="unknown review mode"):
        mode_distribution(["z"], ("a", "b"))


def test_oracle_metrics_on_a_fake_grammar():
    oracle = FakeOracle({("good",): (math.log(0.5), "pos"), ("bad", "one"): (math.log(0.25), "neg")})
    sents = [["good"], ["good"], ["bad", "one"], ["word", "salad"]]
    m = oracle_metrics(oracle, sents, ("pos", "neg"), reference_modes=np.array([2.0, 1.0]))
    assert m["validity"] == 0.75
    nll = [math.log(2), math.log(2), math.log(4)]
    assert m["oracle_nll"] == pytest.approx(sum(nll) / 3, abs=1e-15)
    assert m["oracle_nll_token"] == pytest.approx(sum(nll) / (2 + 2 + 3), abs=1e-15)
    assert m["modes"] == {"pos": 2 / 3, "neg": 1 / 3}
    assert m["mode_js"] == 0.0  # same 2:1 proportions as the reference


def test_oracle_metrics_when_nothing_is_valid():
    m = oracle_metrics(FakeOracle({}), [["x"], []], ("pos",), reference_modes=np.array([1.0]))
    assert m["validity"] == 0.0
    assert m["oracle_nll"] is None and m["oracle_nll_token"] is None and m["mode_js"] is None


def test_real_grammar_samples_are_valid_and_exact():
    g = default_grammar()
    sents, modes = g.sample_with_modes(50, seed=3)
    m = oracle_metrics(g, sents, MODES, reference_modes=mode_counts(g, sents, MODES))
    assert m["validity"] == 1.0
    expected = -np.mean([g.score(s)[1] for s in sents])
    assert m["oracle_nll"] == pytest.approx(expected, rel=1e-12)
    assert m["mode_js"] == 0.0
    assert sum(m["modes"].values()) == pytest.approx(1.0)
    assert m["modes"]["positive"] == modes.count("positive") / 50
    # shuffled word order is (almost surely) not a sentence of the grammar
    bad = oracle_metrics(g, [s[::-1] for s in sents if len(s) > 3], MODES)
    assert bad["validity"] < 0.2
