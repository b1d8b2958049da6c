"""Is the discriminator learning anything? Summary figures of an adversarial run's D accuracy.

A discriminator at chance for the whole run gives the generator noise for a signal: the run then
only drifts the MLE model (measured on a 10k-sentence news corpus: every evaluation figure got
worse while D's loss sat at ln 4). :func:`chance_report` reads the logged history and says so, for
``metrics/adversarial.json`` and the stage's output.

D's accuracy per log window, from whatever the objective logs (the first that applies):

- ``d_acc_pair``: how often D scores the real row of a (real, fake) pair above the fake one
  (relativistic and relaxed objectives);
- the mean of ``d_acc_real`` and ``d_acc_fake`` (thresholded classifiers: bce, seqgan, coldgan);
- ``d_rank_soft``: the same pairwise rank for any relaxed objective (the WGAN-GP critic, whose
  scores have no threshold).

"At chance for the whole run" = every logged window's accuracy within :data:`CHANCE_TOLERANCE` of
0.5. A window averages ``log_every`` steps of ``batch_size`` rows each (640 rows by default), so
sampling noise alone moves a chance-level accuracy by about 0.02 (one standard deviation): 0.05 is
about 2.5 of those, while a D that learned anything usable sits well above it.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

#: largest |accuracy - 0.5| of a log window that still counts as chance
CHANCE_TOLERANCE = 0.05


def window_accuracy(row: Mapping[str, Any]) -> float | None:
    """D's accuracy in one logged row (see the module docstring), or None if it logs none."""
    pair = row.get("d_acc_pair")
    if pair is not None and math.isfinite(float(pair)):
        return float(pair)
    real, fake = row.get("d_acc_real"), row.get("d_acc_fake")
    if real is not None and fake is not None:
        acc = 0.5 * (float(real) + float(fake))
        return acc if math.isfinite(acc) else None
    rank = row.get("d_rank_soft")
    return float(rank) if rank is not None and math.isfinite(float(rank)) else None


def chance_report(history: Sequence[Mapping[str, Any]],
                  tolerance: float = CHANCE_TOLERANCE) -> dict[str, Any]:
    """``d_at_chance`` (bool) with the accuracy figures it rests on: mean, min and max over the
    logged windows (``d_acc_mean``, ``d_acc_min``, ``d_acc_max``). An objective that logs no
    accuracy gets an empty dict: there is no chance level to compare with."""
    accs = [a for a in (window_accuracy(r) for r in history) if a is not None]
    if not accs:
        return {}
    return {"d_at_chance": all(abs(a - 0.5) <= tolerance for a in accs),
            "d_acc_mean": sum(accs) / len(accs), "d_acc_min": min(accs), "d_acc_max": max(accs)}


def chance_message(report: Mapping[str, Any], loss: str, section: str | None = None) -> str | None:
    """The stage's warning line when D was at chance for the whole run (None otherwise)."""
    if not report.get("d_at_chance"):
        return None
    return (f"adversarial ({loss}): WARNING the discriminator stayed at chance for the whole run "
            f"(accuracy {report['d_acc_min']:.3f}..{report['d_acc_max']:.3f}, mean "
            f"{report['d_acc_mean']:.3f}): the generator got no usable signal and only drifted "
            f"from the MLE model; raise adversarial.{section or loss}.d_lr or the discriminator's size, or "
            f"keep the MLE model")
