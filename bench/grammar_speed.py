"""Benchmark: the grammar oracle (validity + probability + mode) on 10,000 sentences, one core.

Target (issue 2): under 10 s for 10,000 sentences. Half of the batch are grammar samples, half are
corrupted copies (one token swapped), so both the accepting and the rejecting path are timed.
Run: `python bench/grammar_speed.py` (prints seconds; not part of the test suite).
"""

from __future__ import annotations

import time

import numpy as np

from gantext.corpus.grammar import default_grammar


def main(n: int = 10_000, seed: int = 0) -> None:
    t0 = time.perf_counter()
    g = default_grammar()
    t_compile = time.perf_counter() - t0
    sents = g.sample(n, seed)
    rng = np.random.default_rng(seed + 1)
    vocab = sorted(g.vocabulary)
    for s in sents[: n // 2]:  # corrupt half: a random token replaced by a random word
        s[int(rng.integers(len(s)))] = vocab[int(rng.integers(len(vocab)))]

    t0 = time.perf_counter()
    valid, logp, modes = g.score_many(sents)
    t_batch = time.perf_counter() - t0

    t0 = time.perf_counter()
    singles = [g.score(s) for s in sents]
    t_single = time.perf_counter() - t0
    assert [v for v, _, _ in singles] == valid.tolist()
    assert np.allclose([p for _, p, _ in singles], logp, rtol=0, atol=1e-9)

    print(f"grammar {g.name}: {g.num_states} states, {len(g.vocabulary)} word types, "
          f"compile {t_compile:.2f} s")
    print(f"score_many on {n} sentences ({valid.mean():.1%} valid): {t_batch:.2f} s "
          f"(target < 10 s) = {t_batch / 10:.1%} of the budget")
    print(f"score one by one: {t_single:.2f} s (score_many speed-up x{t_single / t_batch:.1f})")


if __name__ == "__main__":
    main()
