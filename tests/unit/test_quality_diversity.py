"""Quality-diversity rows: BLEU-5 / self-BLEU-5 (nltk semantics) and validity per (model, T)."""

import math

import numpy as np
import pytest
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

from gantext.metrics.quality_diversity import COLUMNS, qd_row, sweep

W5 = (0.2,) * 5
SMOOTH = SmoothingFunction().method1


def nltk_bleu5(hyps, refs):
    return sum(sentence_bleu(refs, h, weights=W5, smoothing_function=SMOOTH) for h in hyps) / len(hyps)


def nltk_self_bleu5(sents):
    return sum(sentence_bleu(sents[:i] + sents[i + 1:], s, weights=W5, smoothing_function=SMOOTH)
               for i, s in enumerate(sents)) / len(sents)


REFS = [s.split() for s in [
    "the coffee is hot and the coffee is good",
    "the machine makes good coffee every morning",
    "i do not like the noise it makes",
    "the coffee is good but the machine is loud",
]]
SAMPLES = [s.split() for s in [
    "the coffee is good and the machine is hot",
    "the machine makes coffee",
    "the coffee is good and the machine is hot",
    "noise noise noise",
]]


class ValidIfStartsWithThe:
    def score_many(self, sents):
        v = np.array([bool(s) and s[0] == "the" for s in sents])
        return v, np.where(v, -1.0, -math.inf), [("m" if x else None) for x in v]


def test_row_matches_nltk():
    row = qd_row("mle", 0.7, SAMPLES, REFS)
    assert list(row) == [c for c in COLUMNS if not c.startswith("validity")]
    assert row["model"] == "mle" and row["temperature"] == 0.7
    assert row["bleu5"] == pytest.approx(nltk_bleu5(SAMPLES, REFS), abs=1e-12)
    assert row["self_bleu5"] == pytest.approx(nltk_self_bleu5(SAMPLES), abs=1e-12)


def test_row_with_oracle_has_validity_and_real_row_has_no_temperature():
    row = qd_row("real", None, SAMPLES, REFS, ValidIfStartsWithThe())
    assert list(row) == list(COLUMNS)
    assert row["temperature"] == "" and row["validity"] == 0.75
    # reference lengths 9, 7, 8, 9: strata < 8 (share 1/4), 8 (1/4), 9 (1/2). The samples (9, 4,
    # 9, 3 words) miss stratum 8 (coverage 3/4); the invalid 3-word sample shares stratum < 8
    # with the 4-word one: weight (1/4) / 2 / (3/4) = 1/6
    assert row["lm_coverage"] == 0.75
    assert row["validity_lm"] == pytest.approx(5 / 6, abs=1e-15)


def test_sweep_calls_the_sampler_for_every_model_and_temperature():
    calls = []

    def sample(model, t, n):
        calls.append((model, t, n))
        return SAMPLES[:n] if t < 1 else SAMPLES[1:n + 1]

    rows = sweep(["mle", "gan"], [0.5, 1.5], 3, sample, REFS)
    assert calls == [("mle", 0.5, 3), ("mle", 1.5, 3), ("gan", 0.5, 3), ("gan", 1.5, 3)]
    assert [(r["model"], r["temperature"]) for r in rows] == [(m, t) for m, t, _ in calls]
    assert rows[0]["bleu5"] == pytest.approx(nltk_bleu5(SAMPLES[:3], REFS), abs=1e-12)
    assert rows[1]["self_bleu5"] == pytest.approx(nltk_self_bleu5(SAMPLES[1:4]), abs=1e-12)


def test_length_matched_bleu_takes_back_a_gain_bought_with_short_sentences():
    short = [f"a{i} b{i} c{i} d{i} e{i}".split() for i in range(5)]
    long = [f"p{i} q{i} r{i} s{i} t{i} u{i} v{i} w{i} x{i} y{i}".split() for i in range(5)]
    refs = short + long
    # 9 copies of a reference's short sentence (BLEU 1 each) and one long nonsense sentence
    samples = [short[0]] * 9 + [["z"] * 10]
    row = qd_row("gan", 1.0, samples, refs)
    assert row["mean_length"] == 5.5 and row["lm_coverage"] == 1.0
    assert row["bleu5"] == pytest.approx(0.9 + 0.1 * nltk_bleu5([["z"] * 10], refs), abs=1e-12)
    # read with the references' lengths (half short, half long): half the mass is the nonsense
    assert row["bleu5_lm"] == pytest.approx(0.5 + 0.5 * nltk_bleu5([["z"] * 10], refs), abs=1e-12)
    assert row["self_bleu5_lm"] < row["self_bleu5"]  # the copies are what self-BLEU sees
    # a sample set with the references' lengths reads the same both ways
    same = qd_row("real", None, refs, refs)
    assert same["bleu5_lm"] == pytest.approx(same["bleu5"], abs=1e-12)
    assert same["self_bleu5_lm"] == pytest.approx(same["self_bleu5"], abs=1e-12)
