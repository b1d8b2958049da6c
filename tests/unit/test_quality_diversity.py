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
    assert list(row) == list(COLUMNS[:5])
    assert row["model"] == "mle" and row["temperature"] == 0.7
    assert row["bleu5"] == pytest.approx(nltk_bleu5(SAMPLES, REFS), abs=1e-12)
    assert row["self_bleu5"] == pytest.approx(nltk_self_bleu5(SAMPLES), abs=1e-12)


def test_row_with_oracle_has_validity_and_real_row_has_no_temperature():
    row = qd_row("real", None, SAMPLES, REFS, ValidIfStartsWithThe())
    assert list(row) == list(COLUMNS)
    assert row["temperature"] == "" and row["validity"] == 0.75


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
