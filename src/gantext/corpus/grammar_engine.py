"""The grammar engine: weighted regular expressions per review mode compiled into a PFSA, with a
seeded sampler and an exact oracle. The built-in grammar's data lives in :mod:`gantext.corpus.grammar`.

A grammar is written as a small weighted regular expression per review *mode* (:class:`Seq`,
:class:`Alt`, :class:`Opt` over words) and compiled into one acyclic, epsilon-free probabilistic
finite-state automaton (PFSA)::

    start --(prior of mode m)--> mode m's sub-automaton --> ... --> stop

Because the automaton is acyclic and every state's outgoing probabilities (arcs + stop) sum to 1,
the probabilities of all sentences sum to exactly 1. The oracle answers for any token sequence:

* ``P(s) = sum over modes m of P(s, m)``, each term a forward pass that sums over *all* derivations
  (a sentence may be derivable in several ways; the forward pass adds them up);
* valid  <=> ``P(s) > 0``;
* mode   = ``argmax_m P(s, m)`` (ties: the earlier mode in ``modes``). The built-in grammar's modes
  have disjoint languages (checked by :meth:`ReviewGrammar.mode_overlap`), so there its mode is
  simply the only mode that can produce the sentence.

Tokens are lower-case and stable under nltk's word tokenizer (no apostrophes, hyphens, or words
such as "cannot" that nltk splits), so ``" ".join(tokens)`` survives the tokenize stage unchanged.
"""

from __future__ import annotations

import bisect
import functools
import math
from dataclasses import dataclass
from typing import Sequence, Union

import numpy as np

__all__ = ["Alt", "Expr", "Opt", "ReviewGrammar", "Seq", "alt", "opt", "seq"]


# ----------------------------------------------------------------------------- expressions
@dataclass(frozen=True)
class Seq:
    """Items one after the other."""

    items: tuple


@dataclass(frozen=True)
class Alt:
    """One of the items, chosen with probability proportional to its weight."""

    items: tuple
    weights: tuple


@dataclass(frozen=True)
class Opt:
    """The item with probability `p`, nothing otherwise."""

    item: object
    p: float


Expr = Union[str, Seq, Alt, Opt]


def seq(*items: Expr) -> Seq:
    """Concatenation; a string item is a space-separated run of words."""
    return Seq(tuple(items))


def alt(*items: Expr | tuple[float, Expr]) -> Alt:
    """Choice; an item may be `(weight, expr)`, plain items weigh 1."""
    exprs, weights = [], []
    for it in items:
        if isinstance(it, tuple):
            w, e = it
        else:
            w, e = 1.0, it
        if not w > 0:
            raise ValueError(f"alternative weights must be positive, got {w!r}")
        exprs.append(e)
        weights.append(float(w))
    if not exprs:
        raise ValueError("alt() needs at least one alternative")
    return Alt(tuple(exprs), tuple(weights))


def opt(item: Expr, p: float = 0.5) -> Opt:
    """Optional item, present with probability `p`."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"opt() probability must lie in (0, 1), got {p!r}")
    return Opt(item, float(p))


# ----------------------------------------------------------------------------- compilation
class _Thompson:
    """Expression -> automaton with epsilon arcs (token None); every state's arcs sum to 1."""

    def __init__(self) -> None:
        self.arcs: list[list[tuple[str | None, float, int]]] = []
        self.mode: list[int] = []
        self.cur_mode = -1

    def new(self) -> int:
        self.arcs.append([])
        self.mode.append(self.cur_mode)
        return len(self.arcs) - 1

    def build(self, e: Expr, entry: int) -> int:
        """Add `e` starting at state `entry`; return its exit state."""
        if isinstance(e, str):
            words = e.split()
            if not words:
                raise ValueError("empty word string in grammar")
            cur = entry
            for w in words:
                nxt = self.new()
                self.arcs[cur].append((w, 1.0, nxt))
                cur = nxt
            return cur
        if isinstance(e, Seq):
            cur = entry
            for it in e.items:
                # A fresh state per item keeps each state's arcs of one kind (token or epsilon).
                nxt = self.new()
                self.arcs[cur].append((None, 1.0, nxt))
                cur = self.build(it, nxt)
            return cur
        if isinstance(e, Alt):
            total = sum(e.weights)
            out = self.new()
            for w, it in zip(e.weights, e.items):
                s = self.new()
                self.arcs[entry].append((None, w / total, s))
                self.arcs[self.build(it, s)].append((None, 1.0, out))
            return out
        if isinstance(e, Opt):
            out, s = self.new(), self.new()
            self.arcs[entry].append((None, e.p, s))
            self.arcs[entry].append((None, 1.0 - e.p, out))
            self.arcs[self.build(e.item, s)].append((None, 1.0, out))
            return out
        raise TypeError(f"not a grammar expression: {e!r}")


class ReviewGrammar:
    """A probabilistic finite-state grammar of review sentences, one sub-grammar per mode.

    `spec` maps mode name -> (prior weight, expression). Sentences have no explicit end token;
    a sentence ends where the expression ends.
    """

    def __init__(self, spec: dict[str, tuple[float, Expr]], name: str = "grammar") -> None:
        if not spec:
            raise ValueError("a grammar needs at least one mode")
        self.name = name
        self.modes: tuple[str, ...] = tuple(spec)
        total = sum(w for w, _ in spec.values())
        self.priors = {m: w / total for m, (w, _) in spec.items()}
        self._compile(spec, total)

    # -- building -------------------------------------------------------------------------
    def _compile(self, spec: dict[str, tuple[float, Expr]], total: float) -> None:
        t = _Thompson()
        start = t.new()
        finals: set[int] = set()
        for i, (w, expr) in enumerate(spec.values()):
            t.cur_mode = i
            entry = t.new()
            t.arcs[start].append((None, w / total, entry))
            finals.add(t.build(expr, entry))

        @functools.lru_cache(maxsize=None)
        def closure(q: int) -> tuple[tuple[int, float], ...]:
            """Distribution over non-epsilon states reached from q by epsilon arcs only."""
            arcs = t.arcs[q]
            if not arcs or arcs[0][0] is not None:
                return ((q, 1.0),)
            acc: dict[int, float] = {}
            for _, p, r in arcs:
                for s, ps in closure(r):
                    acc[s] = acc.get(s, 0.0) + p * ps
            return tuple(acc.items())

        # Epsilon-free automaton over the start state and every token-arc target.
        index: dict[int, int] = {}
        order: list[int] = []

        def idx(q: int) -> int:
            if q not in index:
                index[q] = len(order)
                order.append(q)
            return index[q]

        idx(start)
        trans: list[dict[str, list[tuple[int, float]]]] = []
        final: list[float] = []
        k = 0
        while k < len(order):  # order grows while we walk it (breadth-first discovery)
            q = order[k]
            arcs: dict[str, dict[int, float]] = {}
            stop = 0.0
            for s, p in closure(q):
                if s in finals:
                    stop += p
                    continue
                (tok, _, r), = t.arcs[s]
                dst = arcs.setdefault(tok, {})
                j = idx(r)
                dst[j] = dst.get(j, 0.0) + p
            trans.append({tok: list(d.items()) for tok, d in arcs.items()})
            final.append(stop)
            k += 1
        self._trans = trans
        self._final = final
        self._mode = [t.mode[q] for q in order]
        self._start = 0
        # Sampling tables: per state, cumulative probabilities over (arcs..., stop).
        self._choices: list[list[tuple[str, int] | None]] = []
        self._cum: list[list[float]] = []
        for st, f in zip(trans, final):
            ch: list[tuple[str, int] | None] = []
            cum: list[float] = []
            acc = 0.0
            for tok in sorted(st):
                for j, p in st[tok]:
                    acc += p
                    ch.append((tok, j))
                    cum.append(acc)
            if f > 0:
                acc += f
                ch.append(None)
                cum.append(acc)
            self._choices.append(ch)
            self._cum.append(cum)

    # -- sampling -------------------------------------------------------------------------
    def _sample_one(self, rng: np.random.Generator) -> tuple[list[str], str]:
        q, out = self._start, []
        while True:
            cum = self._cum[q]
            # min() guards the last bucket against float round-off in the cumulative sum.
            i = min(bisect.bisect_right(cum, rng.random() * cum[-1]), len(cum) - 1)
            c = self._choices[q][i]
            if c is None:
                return out, self.modes[self._mode[q]]
            out.append(c[0])
            q = c[1]

    def sample_with_modes(self, n: int, seed: int) -> tuple[list[list[str]], list[str]]:
        """`n` sentences (token lists) and the mode each was generated in; same seed, same output."""
        rng = np.random.default_rng(seed)
        sents, modes = [], []
        for _ in range(n):
            s, m = self._sample_one(rng)
            sents.append(s)
            modes.append(m)
        return sents, modes

    def sample(self, n: int, seed: int) -> list[list[str]]:
        """`n` sentences as token lists (seeded)."""
        return self.sample_with_modes(n, seed)[0]

    # -- scoring --------------------------------------------------------------------------
    def _forward(self, alpha: dict[int, float], tok: str) -> tuple[dict[int, float], float]:
        """One forward step, renormalised (returns the log of the normaliser) to avoid underflow."""
        new: dict[int, float] = {}
        trans = self._trans
        for s, a in alpha.items():
            for r, p in trans[s].get(tok, ()):
                new[r] = new.get(r, 0.0) + a * p
        if not new:
            return new, -math.inf
        z = sum(new.values())
        return {r: v / z for r, v in new.items()}, math.log(z)

    def _finish(self, alpha: dict[int, float], logscale: float) -> tuple[bool, float, str | None]:
        per_mode = [0.0] * len(self.modes)
        for s, a in alpha.items():
            f = self._final[s]
            if f:
                per_mode[self._mode[s]] += a * f
        total = sum(per_mode)
        if not total > 0:
            return False, -math.inf, None
        best = max(range(len(per_mode)), key=lambda i: (per_mode[i], -i))
        return True, logscale + math.log(total), self.modes[best]

    def score(self, tokens: Sequence[str]) -> tuple[bool, float, str | None]:
        """(valid, natural-log probability (-inf when invalid), mode or None) of one sentence."""
        alpha, logscale = {self._start: 1.0}, 0.0
        for tok in tokens:
            alpha, lz = self._forward(alpha, tok)
            if not alpha:
                return False, -math.inf, None
            logscale += lz
        return self._finish(alpha, logscale)

    def score_many(self, sents: Sequence[Sequence[str]]
                   ) -> tuple[np.ndarray, np.ndarray, list[str | None]]:
        """Batched :meth:`score`: (valid bool array, log-prob float64 array, modes).

        Sentences are visited in sorted order so shared prefixes are scored once (a trie walk);
        the results are exactly those of :meth:`score`.
        """
        n = len(sents)
        valid = np.zeros(n, dtype=bool)
        logp = np.full(n, -math.inf, dtype=np.float64)
        modes: list[str | None] = [None] * n
        keys = [tuple(s) for s in sents]
        # stack[d] = (alpha, logscale) after the first d tokens of the previous sentence.
        stack: list[tuple[dict[int, float], float]] = [({self._start: 1.0}, 0.0)]
        prev: tuple[str, ...] = ()
        last_key: tuple[str, ...] | None = None
        last: tuple[bool, float, str | None] = (False, -math.inf, None)
        for i in sorted(range(n), key=keys.__getitem__):
            key = keys[i]
            if key != last_key:
                common = 0
                lim = min(len(prev), len(key), len(stack) - 1)
                while common < lim and prev[common] == key[common]:
                    common += 1
                del stack[common + 1:]
                alpha, logscale = stack[-1]
                for tok in key[common:]:
                    alpha, lz = self._forward(alpha, tok)
                    if not alpha:
                        break
                    logscale += lz
                    stack.append((alpha, logscale))
                last = self._finish(alpha, logscale) if alpha else (False, -math.inf, None)
                prev, last_key = key, key
            valid[i], logp[i], modes[i] = last
        return valid, logp, modes

    # -- exact properties (dynamic programming over the acyclic automaton) ------------------
    @functools.cached_property
    def vocabulary(self) -> frozenset[str]:
        """Every word the grammar can emit."""
        return frozenset(tok for st in self._trans for tok in st)

    @functools.cached_property
    def length_range(self) -> tuple[int, int]:
        """(shortest, longest) sentence length in tokens."""
        lo: dict[int, float] = {}
        hi: dict[int, float] = {}

        def visit(q: int) -> None:
            if q in lo:
                return
            a, b = (0, 0) if self._final[q] > 0 else (math.inf, -math.inf)
            for arcs in self._trans[q].values():
                for r, _ in arcs:
                    visit(r)
                    a, b = min(a, lo[r] + 1), max(b, hi[r] + 1)
            lo[q], hi[q] = a, b

        visit(self._start)
        return int(lo[self._start]), int(hi[self._start])

    @functools.cached_property
    def _dfa(self) -> tuple[frozenset[int], dict[frozenset[int], dict[str, frozenset[int]]]]:
        """Subset construction (probabilities ignored): one path per distinct sentence."""
        start = frozenset([self._start])
        delta: dict[frozenset[int], dict[str, frozenset[int]]] = {}
        todo = [start]
        while todo:
            S = todo.pop()
            if S in delta:
                continue
            out: dict[str, set[int]] = {}
            for q in S:
                for tok, arcs in self._trans[q].items():
                    out.setdefault(tok, set()).update(r for r, _ in arcs)
            delta[S] = {tok: frozenset(rs) for tok, rs in out.items()}
            todo.extend(T for T in delta[S].values() if T not in delta)
        return start, delta

    def count_sentences(self) -> dict[str, int]:
        """Exact number of distinct sentences per mode and in total ('all'), by DP on the DFA."""
        start, delta = self._dfa
        memo: dict[frozenset[int], tuple[int, ...]] = {}
        nm = len(self.modes)

        def count(S: frozenset[int]) -> tuple[int, ...]:
            # counts[m] = sentences from S accepted by mode m; counts[nm] = accepted by any mode
            if S in memo:
                return memo[S]
            here = {self._mode[q] for q in S if self._final[q] > 0}
            acc = [1 if m in here else 0 for m in range(nm)] + [1 if here else 0]
            for T in delta[S].values():
                for j, c in enumerate(count(T)):
                    acc[j] += c
            memo[S] = tuple(acc)
            return memo[S]

        c = count(start)
        return {**{m: c[i] for i, m in enumerate(self.modes)}, "all": c[nm]}

    def mode_overlap(self) -> int:
        """Number of distinct sentences producible by more than one mode (0: modes are disjoint)."""
        c = self.count_sentences()
        return sum(c[m] for m in self.modes) - c["all"]

    @property
    def num_states(self) -> int:
        return len(self._trans)
