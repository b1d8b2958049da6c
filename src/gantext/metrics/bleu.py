"""Exact multi-reference BLEU and leave-one-out self-BLEU, bit-identical to nltk.

The reference semantics is nltk 3.10.4::

    sentence_bleu(references, hypothesis, weights=(1 / n,) * n,
                  smoothing_function=SmoothingFunction().method1)

averaged over hypotheses (self-BLEU: ``references = samples[:i] + samples[i + 1:]``).
nltk costs O(|references|) per hypothesis (~2 s against 10k references); this module gets the
same numbers for a whole corpus in well under a second, because everything a hypothesis needs
from its references is a per-n-gram maximum and the multiset of reference lengths:

- modified precision p_k = sum_g min(count_hyp(g), max_ref count_ref(g)) / max(1, len - k + 1),
  so one table ``max count per n-gram`` over all references answers every hypothesis;
- for leave-one-out, each n-gram keeps its top two counts and the owner of the top one: the
  maximum over the *other* samples is the second count when the sentence itself owns the top,
  else the top (a tie for the top makes both equal, so duplicates stay exact);
- the closest reference length (ties to the shorter) comes from the sorted distinct lengths,
  with the sentence's own length removed once for leave-one-out.

All counting is integer arithmetic (numpy, exact). The floating-point part then repeats nltk's
operations in nltk's order with Python's own ``math`` functions, so scores are bit-identical,
not merely close: p_k = num / den as a correctly rounded float (``float(Fraction)``), or
``(0 + 0.1) / den`` when num == 0 (method1), terms ``w * math.log(p_k)`` with ``w = 1 / n``,
``bp * math.exp(math.fsum(terms))`` with ``bp = math.exp(1 - r / h)`` when ``h <= r``, and
exactly 0 when no unigram matches (nltk's early return). numpy's vectorised ``log``/``exp`` may
differ from libm in the last bit, which is why they are not used for this part.

Corpus means are ``math.fsum(scores) / len(scores)`` (correctly rounded sum, independent of
order); per-sentence scores are available from :func:`sentence_scores` and
:func:`self_sentence_scores`.

nltk raises on an empty reference list (``KeyError`` / ``ValueError: min() arg is an empty
sequence``); here that case -- including self-BLEU of fewer than two samples -- raises a
``ValueError`` that says so.
"""

from __future__ import annotations

import math
from typing import Hashable, Iterator, Sequence

import numpy as np

__all__ = ["bleu", "self_bleu", "sentence_scores", "self_sentence_scores"]

DEFAULT_NS = (2, 3, 4, 5)
EPSILON = 0.1  # nltk SmoothingFunction().method1 default
_FAR = 1 << 40  # sentinel length: farther than any real sentence length


def _check_ns(ns: Sequence[int]) -> tuple[int, ...]:
    out = tuple(int(n) for n in ns)
    if not out or any(n < 1 for n in out) or len(set(out)) != len(out):
        raise ValueError(f"ns must be distinct positive n-gram orders, got {tuple(ns)!r}")
    return out


def _ngram_counts(
    sentences: Sequence[Sequence[Hashable]], max_n: int
) -> tuple[np.ndarray, Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray, int]]]:
    """Sentence lengths, and per order n=1..max_n the distinct (sentence, n-gram) pairs.

    Yields ``(n, sent, gram, count, num_grams)``: ``gram`` are dense ids of n-grams shared by
    all sentences; pairs are sorted by sentence. Tokens may be any hashable values.
    """
    lengths = np.fromiter((len(s) for s in sentences), dtype=np.int64, count=len(sentences))
    total = int(lengths.sum())
    vocab: dict = {}
    # setdefault evaluates len(vocab) before inserting: ids 0, 1, 2, ... in first-seen order.
    flat = np.fromiter(
        (vocab.setdefault(t, len(vocab)) for s in sentences for t in s), dtype=np.int64, count=total
    )
    sid = np.repeat(np.arange(len(sentences), dtype=np.int64), lengths)
    starts = np.cumsum(lengths) - lengths
    # tokens left in the sentence from this position on (this one included)
    remaining = lengths[sid] - (np.arange(total, dtype=np.int64) - starts[sid])
    vsize = max(len(vocab), 1)

    def orders():
        pos = np.arange(total, dtype=np.int64)
        gram = flat
        n_grams = vsize
        for n in range(1, max_n + 1):
            if n > 1:
                # n-gram at p = (n-1)-gram at p followed by token p+n-1; re-densify the ids so
                # keys stay small (< total * vocab) however long the n-grams get.
                keep = remaining[pos] >= n
                pos = pos[keep]
                if n_grams * vsize >= 2**62:
                    raise ValueError("corpus too large for int64 n-gram keys")
                uniq, gram = np.unique(gram[keep] * vsize + flat[pos + n - 1], return_inverse=True)
                gram = gram.astype(np.int64, copy=False)
                n_grams = max(len(uniq), 1)
            pair, count = np.unique(sid[pos] * n_grams + gram, return_counts=True)
            yield n, pair // n_grams, pair % n_grams, count.astype(np.int64), n_grams

    return lengths, orders()


def _closest_lengths(hyp_len: np.ndarray, ref_lens: np.ndarray, leave_one_out: bool) -> np.ndarray:
    """nltk ``closest_ref_length`` for every hypothesis: nearest length, ties to the shorter.

    With ``leave_one_out``, ``ref_lens`` are the hypotheses' own lengths and each hypothesis'
    own length is removed once from the multiset before searching.
    """
    values, counts = np.unique(ref_lens, return_counts=True)
    k = np.searchsorted(values, hyp_len)  # first value >= h
    kc = np.minimum(k, len(values) - 1)
    exact = (k < len(values)) & (values[kc] == hyp_len)
    lo = np.where(k > 0, values[np.maximum(k - 1, 0)], -_FAR)
    if leave_one_out:
        # own length is values[k] (exact by construction); it stays a candidate if shared
        exact = counts[kc] >= 2
        hi_k = k + 1
    else:
        hi_k = k
    hi = np.where(hi_k < len(values), values[np.minimum(hi_k, len(values) - 1)], _FAR)
    nearest = np.where(hyp_len - lo <= hi - hyp_len, lo, hi)
    return np.where(exact, hyp_len, nearest)


def _scores(
    numerators: np.ndarray,
    hyp_len: np.ndarray,
    ref_len: np.ndarray,
    ns: tuple[int, ...],
) -> dict[int, np.ndarray]:
    """nltk's float arithmetic, operation for operation, on exact integer statistics."""
    max_n = numerators.shape[1]
    log, exp, fsum = math.log, math.exp, math.fsum
    weighted = [(n, 1 / n) for n in ns]  # nltk is called with weights=(1 / n,) * n
    out = {n: [0.0] * len(hyp_len) for n in ns}
    rows = numerators.tolist()
    for i, (h, r) in enumerate(zip(hyp_len.tolist(), ref_len.tolist())):
        nums = rows[i]
        if nums[0] == 0:  # nltk: no unigram match -> return 0 (covers the empty hypothesis)
            continue
        # modified precision denominators: max(1, number of hypothesis k-grams)
        logs = [
            log(a / d) if a else log((0 + EPSILON) / d)
            for a, d in zip(nums, [max(1, h - k) for k in range(max_n)])
        ]
        bp = 1 if h > r else exp(1 - r / h)
        for n, w in weighted:
            out[n][i] = bp * exp(fsum([w * lg for lg in logs[:n]]))
    return {n: np.asarray(v, dtype=np.float64) for n, v in out.items()}


def _mean(scores: dict[int, np.ndarray]) -> dict[int, float]:
    return {n: math.fsum(v.tolist()) / len(v) for n, v in scores.items()}


def sentence_scores(
    hypotheses: Sequence[Sequence[Hashable]],
    references: Sequence[Sequence[Hashable]],
    ns: Sequence[int] = DEFAULT_NS,
) -> dict[int, np.ndarray]:
    """Per-hypothesis BLEU-n against all references: ``{n: float64 array, one per hypothesis}``.

    Element i equals nltk ``sentence_bleu(references, hypotheses[i], weights=(1 / n,) * n,
    smoothing_function=SmoothingFunction().method1)`` bit for bit.
    """
    ns = _check_ns(ns)
    if len(references) == 0:
        raise ValueError("BLEU needs at least one reference sentence; the reference set is empty")
    n_hyp = len(hypotheses)
    max_n = max(ns)
    lengths, orders = _ngram_counts(list(hypotheses) + list(references), max_n)
    numerators = np.zeros((n_hyp, max_n), dtype=np.int64)
    for n, sent, gram, count, n_grams in orders:
        is_ref = sent >= n_hyp
        max_ref = np.zeros(n_grams, dtype=np.int64)
        np.maximum.at(max_ref, gram[is_ref], count[is_ref])
        hyp = ~is_ref
        clipped = np.minimum(count[hyp], max_ref[gram[hyp]])
        numerators[:, n - 1] = np.bincount(sent[hyp], weights=clipped, minlength=n_hyp)
    hyp_len = lengths[:n_hyp]
    ref_len = _closest_lengths(hyp_len, lengths[n_hyp:], leave_one_out=False)
    return _scores(numerators, hyp_len, ref_len, ns)


def self_sentence_scores(
    samples: Sequence[Sequence[Hashable]], ns: Sequence[int] = DEFAULT_NS
) -> dict[int, np.ndarray]:
    """Per-sample leave-one-out self-BLEU-n: ``{n: float64 array, one per sample}``.

    Element i equals nltk ``sentence_bleu(samples[:i] + samples[i + 1:], samples[i], ...)`` bit
    for bit (same weights and smoothing as :func:`sentence_scores`). Duplicated samples count
    as separate references for each other, as they do in nltk.
    """
    ns = _check_ns(ns)
    if len(samples) < 2:
        raise ValueError(
            f"self-BLEU needs at least 2 samples (each is scored against all the others); "
            f"got {len(samples)}"
        )
    n_s = len(samples)
    max_n = max(ns)
    lengths, orders = _ngram_counts(samples, max_n)
    numerators = np.zeros((n_s, max_n), dtype=np.int64)
    for n, sent, gram, count, n_grams in orders:
        # per n-gram: top count and its owner, and the second count (0 if a single owner)
        order = np.lexsort((-count, gram))
        g_sorted = gram[order]
        first = np.ones(len(order), dtype=bool)
        first[1:] = g_sorted[1:] != g_sorted[:-1]
        head = np.flatnonzero(first)
        top1 = np.zeros(n_grams, dtype=np.int64)
        owner = np.full(n_grams, -1, dtype=np.int64)
        top2 = np.zeros(n_grams, dtype=np.int64)
        top1[g_sorted[head]] = count[order[head]]
        owner[g_sorted[head]] = sent[order[head]]
        nxt = head + 1
        has2 = nxt < len(order)
        has2[has2] = ~first[nxt[has2]]
        top2[g_sorted[head[has2]]] = count[order[nxt[has2]]]
        others_max = np.where(owner[gram] == sent, top2[gram], top1[gram])
        clipped = np.minimum(count, others_max)
        numerators[:, n - 1] = np.bincount(sent, weights=clipped, minlength=n_s)
    ref_len = _closest_lengths(lengths, lengths, leave_one_out=True)
    return _scores(numerators, lengths, ref_len, ns)


def bleu(
    hypotheses: Sequence[Sequence[Hashable]],
    references: Sequence[Sequence[Hashable]],
    ns: Sequence[int] = DEFAULT_NS,
) -> dict[int, float]:
    """Mean BLEU-n of every hypothesis against all references (nltk method1 semantics)."""
    if len(hypotheses) == 0:
        raise ValueError("BLEU of an empty hypothesis set is undefined; got 0 hypotheses")
    return _mean(sentence_scores(hypotheses, references, ns))


def self_bleu(
    samples: Sequence[Sequence[Hashable]], ns: Sequence[int] = DEFAULT_NS
) -> dict[int, float]:
    """Mean leave-one-out self-BLEU-n: each sample against all the other samples."""
    return _mean(self_sentence_scores(samples, ns))
