"""Benchmark: exact BLEU-2..5 (10k samples x 10k references) and leave-one-out self-BLEU-2..5.

Not a test: prints times, the real-data reference values, and speed ratios measured in this
run against nltk (on a small subset, extrapolated to the full set) and, when it happens to be
installed, against fast-bleu. The nltk subset is also checked for bit-identical per-sentence
scores. Data: COCO captions (train.txt = hypotheses/samples, test.txt = references), lower-cased
and tokenized with nltk's NLTKWordTokenizer, read from data/benchmarks/coco by default.

    .venv/bin/python bench/bleu_speed.py [--data-dir DIR] [--nltk-subset 20] [--repeat 3]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core, as the target says

import argparse  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from nltk.tokenize import NLTKWordTokenizer  # noqa: E402
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu  # noqa: E402

from gantext.metrics.bleu import self_sentence_scores, sentence_scores  # noqa: E402

NS = (2, 3, 4, 5)
# Real-data reference values (COCO README / issue 5), rounded to 3 decimals.
EXPECTED_BLEU = {2: 0.740, 3: 0.520, 4: 0.337, 5: 0.218}
EXPECTED_SELF = {2: 0.892, 3: 0.747, 4: 0.574, 5: 0.416}


def read_tokens(path: Path) -> list[list[str]]:
    tok = NLTKWordTokenizer()
    with open(path, encoding="utf-8") as f:
        return [tok.tokenize(line.strip().lower()) for line in f if line.strip()]


def best_time(fn, repeat: int):
    best, out = math.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def mean(v) -> float:
    return math.fsum(list(v)) / len(v)


def nltk_subset(hyps, refs_for, idx: list[int]):
    """nltk scores for hypotheses ``idx``; one call per hypothesis gives all four orders
    (same precisions, same arithmetic as four separate calls)."""
    weights = [(1 / n,) * n for n in NS]
    sm = SmoothingFunction().method1
    t0 = time.perf_counter()
    rows = [sentence_bleu(refs_for(i), hyps[i], weights=weights, smoothing_function=sm) for i in idx]
    return (time.perf_counter() - t0) / len(idx), {n: [r[j] for r in rows] for j, n in enumerate(NS)}


def main() -> int:
    root = Path(__file__).resolve().parents[1]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=root / "data" / "benchmarks" / "coco")
    ap.add_argument("--nltk-subset", type=int, default=20, help="hypotheses timed with nltk (each ~2 s)")
    ap.add_argument("--repeat", type=int, default=3, help="timings report the best of this many runs")
    args = ap.parse_args()

    t0 = time.perf_counter()
    hyps = read_tokens(args.data_dir / "train.txt")
    refs = read_tokens(args.data_dir / "test.txt")
    print(f"data: {len(hyps)} hypotheses (train.txt), {len(refs)} references (test.txt) "
          f"from {args.data_dir}; tokenized in {time.perf_counter() - t0:.1f} s (not timed below)")

    t_bleu, bleu_s = best_time(lambda: sentence_scores(hyps, refs, NS), args.repeat)
    t_self, self_s = best_time(lambda: self_sentence_scores(hyps, NS), args.repeat)
    total = t_bleu + t_self
    bleu_m = {n: mean(v) for n, v in bleu_s.items()}
    self_m = {n: mean(v) for n, v in self_s.items()}
    print(f"exact BLEU-2..5      {len(hyps)} x {len(refs)}: {t_bleu:6.2f} s  "
          + " / ".join(f"{bleu_m[n]:.4f}" for n in NS))
    print(f"exact self-BLEU-2..5 {len(hyps)} leave-one-out: {t_self:6.2f} s  "
          + " / ".join(f"{self_m[n]:.4f}" for n in NS))
    print(f"total {total:.2f} s (target < 5 s on one core): {'OK' if total < 5 else 'MISSED'}")
    ok_ref = all(round(bleu_m[n], 3) == EXPECTED_BLEU[n] and round(self_m[n], 3) == EXPECTED_SELF[n] for n in NS)
    print(f"real-data reference values .740/.520/.337/.218 and .892/.747/.574/.416: "
          f"{'match' if ok_ref else 'MISMATCH'}")

    k = min(args.nltk_subset, len(hyps))
    if k > 0:
        idx = [j * len(hyps) // k for j in range(k)]  # spread over the file
        per_b, nb = nltk_subset(hyps, lambda i: refs, idx)
        per_s, ns_ = nltk_subset(hyps, lambda i: hyps[:i] + hyps[i + 1:], idx)
        diff = sum(nb[n][j] != bleu_s[n][i] for n in NS for j, i in enumerate(idx))
        diff += sum(ns_[n][j] != self_s[n][i] for n in NS for j, i in enumerate(idx))
        print(f"nltk on {k} spread hypotheses: {per_b:.2f} s/hypothesis (BLEU), {per_s:.2f} s/sample (self-BLEU); "
              f"scores differing from ours: {diff} of {2 * k * len(NS)} (bit-identical: {diff == 0})")
        est_b, est_s = per_b * len(hyps), per_s * len(hyps)
        print(f"nltk extrapolated to the full set: {est_b:.0f} s + {est_s:.0f} s; speed ratio "
              f"BLEU {est_b / t_bleu:.0f}x, self-BLEU {est_s / t_self:.0f}x, "
              f"total {(est_b + est_s) / total:.0f}x (target >= 5000x)")
    else:
        diff = 0

    try:
        import fast_bleu  # optional; never a dependency
    except ImportError:
        print("fast_bleu not installed: no comparison")
    else:
        weights = {n: (1 / n,) * n for n in NS}
        tb, fb = best_time(lambda: fast_bleu.BLEU(refs, weights).get_score(hyps), 1)
        ts, fsb = best_time(lambda: fast_bleu.SelfBLEU(hyps, weights).get_score(), 1)
        dev = max(abs(mean(fb[n]) - bleu_m[n]) for n in NS)
        dev = max(dev, max(abs(mean(fsb[n]) - self_m[n]) for n in NS))
        print(f"fast_bleu: {tb:.2f} s + {ts:.2f} s; ratio fast_bleu/ours = {(tb + ts) / total:.2f}x "
              f"(BLEU {tb / t_bleu:.2f}x, self-BLEU {ts / t_self:.2f}x); max |mean diff| {dev:.1e}")
    return 0 if (diff == 0 and ok_ref) else 1


if __name__ == "__main__":
    sys.exit(main())
