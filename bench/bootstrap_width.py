"""Are the bootstrap intervals the right width? Compare them with the real spread over draws.

On the built-in grammar (an exact sampler, so independent sample sets are free): K independent
sets of n grammar sentences are scored against one fixed reference set (as every evaluate row
is); the standard deviation of BLEU-5, self-BLEU-5 and FID across the K sets is the true
sampling spread at n. Each set's own bootstrap interval (gantext.metrics.reference.Ruler, the
evaluate code path) gives an estimated spread (half-width / 1.96). Prints both, their ratio and
how often the interval of one set covers the mean over all sets.

    python bench/bootstrap_width.py [--n 1000] [--sets 20]
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np

from gantext.config import FIDConfig
from gantext.corpus.grammar import default_grammar
from gantext.metrics.fid import FeatureExtractor
from gantext.metrics.reference import Ruler


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--sets", type=int, default=20)
    args = ap.parse_args()
    g = default_grammar()
    train, refs = g.sample(8000, seed=1), g.sample(1000, seed=2)
    ruler = Ruler(refs, FeatureExtractor.fit(train, FIDConfig()))
    keys = ("bleu5", "sbleu5", "fid")
    est: dict[str, list[float]] = {k: [] for k in keys}
    half: dict[str, list[float]] = {k: [] for k in keys}
    ivals: dict[str, list[tuple[float, float]]] = {k: [] for k in keys}
    for i in range(args.sets):
        m = ruler.score(g.sample(args.n, seed=100 + i), boot_seed=i).metrics
        for k in keys:
            est[k].append(m[k])
            half[k].append((m[f"{k}_hi"] - m[f"{k}_lo"]) / 2)
            ivals[k].append((m[f"{k}_lo"], m[f"{k}_hi"]))
    print(f"n = {args.n}, {args.sets} independent sets, 1,000 references")
    for k in keys:
        sd = statistics.stdev(est[k])
        boot_sd = statistics.fmean(half[k]) / 1.96
        mean = statistics.fmean(est[k])
        cover = np.mean([lo <= mean <= hi for lo, hi in ivals[k]])
        print(f"{k:>7}: spread over sets (sd) {sd:.5f}; bootstrap sd {boot_sd:.5f} "
              f"(ratio {boot_sd / sd:.2f}); intervals covering the mean of the sets {cover:.0%}")


if __name__ == "__main__":
    main()
