"""Grammar-oracle metrics (built-in corpus only): validity, oracle NLL, review-mode coverage.

The built-in corpus is sampled from a known probabilistic grammar
(:mod:`gantext.corpus.grammar`), so a sample can be judged exactly: is it a sentence of the
grammar (validity), how probable is it under the grammar (oracle NLL), and which review mode
does it belong to (mode coverage vs. the data).

Definitions (all computed on token lists; :func:`oracle_metrics`):

- ``validity``: fraction of samples the grammar accepts.
- ``oracle_nll``: mean of ``-ln P_grammar(sample)`` (nats per sentence) over the **valid**
  samples. An invalid sample has probability 0 (infinite NLL), so the mean over all samples would
  be infinite as soon as one sample is invalid; validity reports that failure, oracle NLL reports
  how typical the valid ones are (lower = more probable sentences, the SeqGAN "oracle NLL").
  ``None`` when no sample is valid.
- ``oracle_nll_token``: the same total divided by the valid samples' token count **plus one per
  sentence** (the end of sentence, as the generator's NLL counts ``<eos>``). Per token, so it
  does not improve when sentences get shorter; the headline grammar figure.
- ``oracle_invalid``: the number of samples the grammar rejects (their NLL is infinite, so they
  have their own count instead of being dropped silently: every sample is either in the NLL or
  in this count).
- ``mode_js``: Jensen-Shannon divergence between the review-mode distribution of the valid
  samples and that of the reference (the test split), **in bits** (log base 2), so it lies in
  [0, 1]: 0 = identical mode frequencies, 1 = disjoint modes. ``None`` when no sample is valid.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

__all__ = ["Oracle", "js_divergence", "mode_counts", "mode_distribution", "oracle_metrics", "score"]


class Oracle(Protocol):
    """What the metrics need from the grammar (:func:`gantext.corpus.grammar.default_grammar`)."""

    def score_many(self, sents: Sequence[Sequence[str]]) -> tuple[Any, Any, list]:
        """-> (valid bool array, ln-probability array, mode per sentence (None if invalid))."""
        ...


def js_divergence(p: Sequence[float] | np.ndarray, q: Sequence[float] | np.ndarray) -> float:
    """Jensen-Shannon divergence in bits (base 2, so 0 <= JS <= 1) between two distributions.

    Inputs are non-negative weights over the same categories; each is normalised to sum 1.
    Terms with zero probability contribute 0 (``0 log 0 = 0``).
    """
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if p.shape != q.shape or p.ndim != 1:
        raise ValueError(f"distributions must be 1-D of the same length, got {p.shape} and {q.shape}")
    if (p < 0).any() or (q < 0).any() or p.sum() <= 0 or q.sum() <= 0:
        raise ValueError("distributions must be non-negative with a positive sum")
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2.0

    def kl(a: np.ndarray) -> float:
        nz = a > 0  # m > 0 wherever a > 0
        return float(np.sum(a[nz] * np.log2(a[nz] / m[nz])))

    # Clip round-off so JS of identical inputs is exactly 0 and never exceeds 1.
    return float(min(max(0.5 * kl(p) + 0.5 * kl(q), 0.0), 1.0))


def mode_distribution(modes: Sequence[str | None], names: Sequence[str]) -> np.ndarray:
    """Counts of each mode in `names` order; ``None`` (an invalid sentence) is not counted.

    A mode outside `names` is a bug in the grammar module, not in the data: it raises.
    """
    index = {m: i for i, m in enumerate(names)}
    counts = np.zeros(len(names), dtype=np.float64)
    for m in modes:
        if m is None:
            continue
        if m not in index:
            raise ValueError(f"unknown review mode {m!r}; known modes: {', '.join(names)}")
        counts[index[m]] += 1
    return counts


def score(oracle: Oracle, sents: Sequence[Sequence[str]]) -> tuple[np.ndarray, np.ndarray, list]:
    """(valid bool array, ln P array (-inf where invalid), modes) of token lists."""
    if len(sents) == 0:
        return np.zeros(0, dtype=bool), np.zeros(0), []
    valid, logp, modes = oracle.score_many(sents)
    valid = np.asarray(valid, dtype=bool)
    logp = np.asarray(logp, dtype=np.float64)
    # An "accepted" sentence must have a positive, finite probability; anything else is invalid.
    valid = valid & np.isfinite(logp)
    modes = [m if v else None for m, v in zip(modes, valid)]
    return valid, logp, modes


def oracle_metrics(oracle: Oracle, sents: Sequence[Sequence[str]], names: Sequence[str],
                   reference_modes: np.ndarray | None = None) -> dict[str, Any]:
    """validity, oracle_nll, oracle_nll_token, mode_js (and ``modes``: the normalised mode
    distribution as ``{mode: fraction}``) of token lists `sents`.

    `reference_modes` are mode counts (``names`` order) of the reference set, e.g. the test split;
    without it ``mode_js`` is omitted.
    """
    valid, logp, modes = score(oracle, sents)
    n = len(sents)
    n_valid = int(valid.sum())
    out: dict[str, Any] = {"validity": n_valid / n if n else 0.0, "oracle_invalid": n - n_valid}
    if n_valid:
        nll = -logp[valid]
        tokens = sum(len(s) + 1 for s, v in zip(sents, valid) if v)
        out["oracle_nll"] = float(nll.mean())
        out["oracle_nll_token"] = float(nll.sum() / tokens)
    else:
        out["oracle_nll"] = out["oracle_nll_token"] = None
    counts = mode_distribution(modes, names)
    total = counts.sum()
    out["modes"] = {m: (float(c / total) if total else 0.0) for m, c in zip(names, counts)}
    if reference_modes is not None:
        ref = np.asarray(reference_modes, dtype=np.float64)
        out["mode_js"] = js_divergence(counts, ref) if total and ref.sum() > 0 else None
    return out


def mode_counts(oracle: Oracle, sents: Sequence[Sequence[str]], names: Sequence[str]) -> np.ndarray:
    """Mode counts (``names`` order) of the valid sentences in `sents`: the reference for JS."""
    _, _, modes = score(oracle, sents)
    return mode_distribution(modes, names)

