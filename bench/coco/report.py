"""Chord-interpolated quality-diversity gaps: the readings of the earlier COCO rounds.

`protocol.py sweep` scores its grid points with :func:`gaps_above` (its selection rule, kept so
that chosen.yaml's rows stay comparable) and length_matched.py reads curves with it. The report
and the verdict moved into the package: ``gantext protocol report`` (gantext.protocol) reads each
run's own verdict (gantext.metrics.verdict: smooth curves, paired bootstrap intervals); the
published table lives in recipe.yaml.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence


def qd_curve(qd: Sequence[Mapping[str, Any]], model: str) -> list[tuple[float, float, float]]:
    """(temperature, self-BLEU-5, BLEU-5) of one model's sweep, by temperature."""
    return sorted((float(r["temperature"]), float(r["self_bleu5"]), float(r["bleu5"]))
                  for r in qd if r["model"] == model and r["temperature"] != "")


def gap_points(qd: Sequence[Mapping[str, Any]], model: str = "gan", base: str = "mle"
               ) -> list[tuple[float, float, float]]:
    """(temperature, self-BLEU-5, gap) for each `model` sweep point inside `base`'s self-BLEU-5
    range, gap = its BLEU-5 minus `base`'s BLEU-5 interpolated (linearly, along the base curve
    sorted by self-BLEU-5) at the same self-BLEU-5. Positive = better quality at equal
    diversity."""
    curve = sorted((s, b) for _, s, b in qd_curve(qd, base))
    out = []
    for t, x, y in qd_curve(qd, model):
        base_y = curve_at(curve, x)
        if base_y is not None:
            out.append((t, x, y - base_y))
    return out


def curve_at(curve: Sequence[tuple[float, float]], x: float) -> float | None:
    """BLEU-5 of a (self-BLEU-5, BLEU-5) curve sorted by self-BLEU-5, interpolated linearly at
    self-BLEU-5 `x`; None outside the curve's range."""
    xs, ys = [c[0] for c in curve], [c[1] for c in curve]
    if not (xs and xs[0] <= x <= xs[-1]):
        return None
    i = max(j for j in range(len(xs)) if xs[j] <= x)
    if i == len(xs) - 1 or xs[i + 1] == xs[i]:
        return ys[i]
    return ys[i] + (ys[i + 1] - ys[i]) * (x - xs[i]) / (xs[i + 1] - xs[i])


def real_gap(qd: Sequence[Mapping[str, Any]], base: str = "mle") -> float | None:
    """The held-out real sample's BLEU-5 minus `base`'s curve at the real self-BLEU-5: how far
    above MLE's curve a model indistinguishable from the data would lie (the ceiling of the
    gap criterion at this sample size); None without a real row or outside the curve."""
    real = [r for r in qd if r["model"] == "real"]
    if not real:
        return None
    curve = sorted((s, b) for _, s, b in qd_curve(qd, base))
    at = curve_at(curve, float(real[0]["self_bleu5"]))
    return None if at is None else float(real[0]["bleu5"]) - at


def gaps_above(qd: Sequence[Mapping[str, Any]], model: str = "gan", base: str = "mle"
               ) -> list[float]:
    """The gaps of :func:`gap_points` alone."""
    return [g for _, _, g in gap_points(qd, model, base)]
