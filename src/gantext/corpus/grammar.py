"""The built-in "Quantum Coffee Maker" review grammar: a seeded sampler and an exact oracle.

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

__all__ = [
    "MODES",
    "Alt",
    "Opt",
    "ReviewGrammar",
    "Seq",
    "default_grammar",
]


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


# ----------------------------------------------------------------------------- the built-in one
def _words(text: str) -> Alt:
    """Uniform choice among comma-separated phrases: _words("rich, bold, very smooth")."""
    return alt(*(w.strip() for w in text.split(",") if w.strip()))


def _build_spec() -> dict[str, tuple[float, Expr]]:
    """The Quantum Coffee Maker review grammar (see module docstring for the guarantees)."""
    end = alt((4, "."), (1, "!"))

    # --- shared noun phrases --------------------------------------------------------------
    product = alt((3, "this machine"), (2, "this coffee maker"), (3, "the quantum coffee maker"),
                  (2, "this quantum coffee maker"), "my quantum coffee maker",
                  "my new coffee maker", "the machine", "this thing")
    subject = alt((3, "it"), (2, product))
    drink = _words("coffee, espresso, latte, cappuccino, americano, flat white, cold brew, mocha, "
                   "macchiato, cortado, drip coffee, iced coffee, decaf, lungo, ristretto, "
                   "hot chocolate, chai latte, long black")
    drink_pl = _words("lattes, cappuccinos, espressos, americanos, mochas, cortados, flat whites, "
                      "iced coffees, macchiatos")
    drink_np = seq(alt((4, "the"), (2, "my"), "my morning", "the first", "every"), drink)
    part = _words("grinder, milk frother, steam wand, water tank, glass carafe, display, "
                  "touchscreen, brew basket, drip tray, bean hopper, pump, boiler, "
                  "heating element, lid, handle, power button, control panel, cup warmer, "
                  "portafilter, companion app, built in scale, quantum core, timer, "
                  "descaling program")
    parts = _words("buttons, filters, capsules, settings, instructions, cleaning tablets, "
                   "spare parts, indicator lights")
    qfeature = seq("the", _words("superposition mode, entanglement setting, quantum brew setting, "
                                 "uncertainty dial, teleport feature, parallel universe mode, "
                                 "observer button, tunneling heater, wave function timer, "
                                 "schrodinger cup sensor"))
    person_sg = _words("my wife, my husband, my partner, my roommate, my girlfriend, "
                       "my boyfriend, my mom, my dad, my neighbor, my sister, my brother, "
                       "my boss, my grandmother, my son, my daughter")
    person_pl = _words("my kids, my coworkers, my parents, our guests, my friends, my colleagues, "
                       "my roommates, the neighbors")
    when_ago = _words("last week, last month, two weeks ago, a month ago, three months ago, "
                      "in january, in the spring, over the holidays, for christmas, "
                      "for my birthday, on sale, during a flash sale, yesterday")
    freq = _words("every morning, every day, twice a day, on weekends, before work, "
                  "after dinner, all day long, three times a day, every single morning")
    after = _words("after two weeks, after a month, after three days, within a week, "
                   "on the first day, after ten uses, after the first descaling, "
                   "the day after the warranty expired, after one morning, within an hour")
    number = _words("two, three, four, five, six, eight, ten, twelve")

    # --- adjectives -----------------------------------------------------------------------
    degree = opt(_words("very, really, incredibly, surprisingly, remarkably, truly, extremely, "
                        "consistently, always, wonderfully, so"), 0.4)
    neg_degree = opt(_words("very, really, incredibly, horribly, painfully, ridiculously, "
                            "extremely, always, so, consistently, unbelievably"), 0.4)
    # Gradable adjectives take a degree adverb; extreme ones only "absolutely" / "simply".
    pos_taste = alt((3, seq(degree, _words("rich, smooth, bold, strong, creamy, aromatic, "
                                           "flavorful, balanced, fragrant, velvety, silky, "
                                           "sweet, nutty, mellow, fresh, hot"))),
                    seq(opt(_words("absolutely, simply, just"), 0.4),
                        _words("perfect, delicious, excellent, fantastic, wonderful, amazing, "
                               "superb, outstanding, heavenly, divine")))
    pos_taste2 = _words("hot, fresh, never bitter, perfectly balanced, full of flavor, "
                        "piping hot, consistent")
    neg_taste = alt((3, seq(neg_degree, _words("bitter, weak, watery, bland, sour, acidic, "
                                               "harsh, thin, lukewarm, stale, muddy, gritty, "
                                               "chalky, metallic, cold"))),
                    seq(opt(_words("absolutely, simply, just"), 0.4),
                        _words("terrible, awful, horrible, disgusting, undrinkable, "
                               "burnt, vile")))
    neg_taste2 = _words("lukewarm, never hot enough, full of grounds, completely flavorless, "
                        "somehow burnt, cold")
    pos_part = alt((3, seq(degree, _words("quiet, sturdy, intuitive, responsive, sleek, fast, "
                                          "reliable, solid, bright, simple, elegant, precise, "
                                          "easy to use, easy to clean, well made"))),
                   _words("a joy to use, a delight, beautifully designed, built to last"))
    neg_part_adj = alt((3, seq(neg_degree, _words("loud, flimsy, noisy, confusing, slow, "
                                                  "fragile, leaky, cheap, wobbly, sticky, dim, "
                                                  "awkward, annoying, hard to clean, "
                                                  "hard to read, badly designed"))),
                       _words("useless, impossible to clean"))
    neg_part_noun = _words("a nightmare, a joke, a disaster")  # "is a joke", never "feels a joke"

    # --- positive clauses -----------------------------------------------------------------
    pos_vp = alt(
        seq("makes", alt("a", "the best"), opt(_words("perfect, great, rich, smooth, lovely"), 0.5),
            drink),
        seq("makes the best", drink, "ever"),
        seq("brews a", alt("perfect", "great", "delicious"), "cup in",
            _words("under a minute, about a minute, seconds, no time")),
        seq("heats up in", _words("seconds, no time, under a minute, a few seconds")),
        seq("has", alt("completely", "totally", "honestly"),
            _words("changed my mornings, replaced my coffee shop habit, paid for itself")),
        seq("looks", alt("great", "gorgeous", "stunning", "amazing"),
            _words("on my counter, in our kitchen, next to my toaster, in the office")),
        seq("fits", alt("perfectly", "nicely"), _words("under my cabinets, on my counter, "
                                                        "in our tiny kitchen")),
        seq("is", _words("worth every penny, easy to clean, a pleasure to use, "
                         "the best purchase i made this year, a great value, "
                         "better than my old espresso machine, better than any cafe in town")),
        seq("never", _words("lets me down, leaks, burns the coffee, makes a mess")),
        seq("remembers how", alt("i like my", "my wife likes her", "my husband likes his",
                                 "everyone likes their"), drink),
    )
    pos_qvp = alt(
        seq("actually works", opt(alt("perfectly", "every time", "as advertised"), 0.5)),
        seq("brews", number, "cups at once"),
        seq("has", alt("coffee", "espresso", "my latte", "breakfast coffee"), "ready before i",
            alt("wake up", "even ask", "get up")),
        seq("is", _words("pure magic, a game changer, my favorite feature, surprisingly useful, "
                         "worth the price alone")),
        seq("keeps my", drink, alt("hot", "warm"), "for hours"),
    )
    pos_person = alt(
        seq(person_sg, alt("loves", "adores", "is obsessed with"), alt("it", drink_np, product)),
        seq(person_pl, alt("love", "adore", "are obsessed with"), alt("it", drink_np, product)),
        seq(alt(person_sg, person_pl), "asked where i got", alt("it", "this machine")),
    )
    pos_detail = alt(
        (4, seq(drink_np, alt("is", "tastes"), pos_taste, opt(seq("and", pos_taste2), 0.3))),
        (3, seq("the", part, "is", pos_part)),
        (1, seq("the", parts, "are", pos_part)),
        (4, seq(subject, pos_vp)),
        (2, seq(qfeature, pos_qvp)),
        (2, pos_person),
        (1, seq("setup took", _words("five minutes, two minutes, no time at all, seconds"))),
    )
    # Whole-product verdicts stay out of mixed reviews ("i love it, but i regret buying it").
    pos_clause = alt((18, pos_detail),
                     (2, seq("i", alt("love", "adore", "really like", "absolutely love",
                                      "am in love with"), product)))
    verdict_pos = alt(
        seq(alt("five stars", "ten out of ten", "highly recommended", "worth every penny",
                "best purchase ever"), ",", _words("no regrets, would buy again, "
                                                   "love it, thank you quantum, "
                                                   "i am a happy customer")),
        seq("i would", alt("definitely", "happily", "absolutely"),
            alt("recommend it to anyone", "recommend it to a friend",
                seq(alt("buy it again", "buy another one"),
                    opt(seq("for", _words("my office, my parents, a gift")), 0.3)))),
        seq("best coffee maker i have", alt("ever owned", "ever used", "ever had")),
        seq("if you love", alt(drink, drink_pl), ", buy this", alt("machine", "coffee maker")),
    )
    positive = alt(
        (10, seq(opt(alt("honestly ,", "overall ,", "so far ,", "wow ,", "seriously ,"), 0.2),
                 pos_clause, end)),
        (3, seq(pos_clause, alt("and", ", and"), pos_clause, end)),
        (3, seq(verdict_pos, end)),
        (2, seq("i bought", alt("it", product), when_ago, "and", pos_clause, end)),
    )

    # --- negative clauses -----------------------------------------------------------------
    neg_vp = alt(
        seq("leaks", _words("all over the counter, every single time, from the bottom, "
                            "onto the floor, like a sieve")),
        seq("takes", _words("forever, ten minutes, twenty minutes, ages"),
            "to", alt("heat up", "brew a single cup", "warm up")),
        seq(alt("beeps", "rattles", "buzzes", "hisses", "clicks"),
            _words("constantly, all night, for no reason, like a smoke alarm")),
        seq("shuts off", _words("randomly, in the middle of brewing, every few minutes")),
        seq("makes a", alt("horrible", "terrible", "strange", "loud"),
            _words("grinding noise, screeching sound, burning smell, mess")),
        seq("smells like", _words("burnt plastic, hot glue, an old tire, a chemistry lab")),
        seq("stopped working", after),
        seq("is", _words("a waste of money, a total scam, impossible to descale, "
                         "worse than my old drip machine, a fire hazard, "
                         "the worst purchase i have made, overpriced junk")),
        seq("keeps", _words("losing the wifi connection, asking for a firmware update, "
                            "flashing a red light, forgetting my settings, "
                            "clogging with grounds")),
        seq("burns", alt("every", "my"), drink),
    )
    neg_qvp = alt(
        seq("only works when", alt("nobody is looking", "nobody is watching", "i am not home")),
        seq("made my", drink, alt("vanish", "disappear", "turn into tea", "taste like soup")),
        seq("keeps collapsing into", alt("decaf", "lukewarm water", "a puddle")),
        seq("is", _words("a useless gimmick, pure marketing, completely broken, "
                         "a total gimmick, just a blinking light")),
        seq("flooded", alt("the counter", "my kitchen", "the floor"), "with", number, "cups"),
    )
    neg_person = alt(
        seq(person_sg, alt("hates", "refuses to use", "laughs at"), alt("it", product)),
        seq(person_pl, alt("hate", "refuse to use", "laugh at"), alt("it", product)),
        seq(person_sg, "went back to", alt("instant coffee", "our old machine", "the french press",
                                           "buying coffee at work")),
    )
    neg_detail = alt(
        (4, seq(drink_np, alt("is", "tastes"), neg_taste, opt(seq("and", neg_taste2), 0.3))),
        (1, seq(drink_np, "tastes like", _words("burnt rubber, dishwater, cardboard, plastic, "
                                                "wet socks, old pennies, dirty water"))),
        (3, seq("the", part, alt("is", "feels"), neg_part_adj)),
        (1, seq("the", part, "is", neg_part_noun)),
        (1, seq("the", parts, "are", neg_part_adj)),
        (2, seq("the", part, _words("broke, cracked, stopped working, started leaking, "
                                    "fell off, died"), after)),
        (4, seq(subject, neg_vp)),
        (2, seq(qfeature, neg_qvp)),
        (2, neg_person),
        (1, seq("customer support", _words("never answered, never replied, was useless, "
                                           "took three weeks to reply, hung up on me, "
                                           "blamed my water"))),
    )
    neg_clause = alt((20, neg_detail),
                     (2, seq("i", alt("regret", "really regret", "deeply regret"), "buying",
                             product)))
    verdict_neg = alt(
        seq(alt("one star", "zero stars", "two stars", "do not buy", "avoid this machine"),
            ",", _words("save your money, total waste of money, what a disappointment, "
                        "i want a refund, never again")),
        seq(alt("do not", "never"), alt("buy", "waste your money on"),
            alt("this machine", "this coffee maker", "the quantum coffee maker")),
        seq("i", alt("returned it", "sent it back", "threw it away", "asked for a refund"),
            alt(after, when_ago)),
        seq("worst coffee maker i have", alt("ever owned", "ever used", "ever had")),
    )
    negative = alt(
        (10, seq(opt(alt("honestly ,", "sadly ,", "unfortunately ,", "ugh ,", "seriously ,"), 0.2),
                 neg_clause, end)),
        (3, seq(neg_clause, alt("and", ", and", ", and now"), neg_clause, end)),
        (3, seq(verdict_neg, end)),
        (2, seq("i bought", alt("it", product), when_ago, "and", neg_clause, end)),
    )

    # --- mixed: always a contrast between a positive and a negative clause ------------------
    pos_short = alt((3, pos_detail), seq("i", alt("like", "love"), "the", alt("design", "price",
                                                                              "color", "size")))
    neg_short = alt((3, neg_detail), seq("i", alt("hate", "dislike"), "the",
                                         alt("noise", "price", "app", "manual")))
    mixed = alt(
        (4, seq(pos_short, alt(", but", "but"), neg_short, end)),
        (4, seq(neg_short, alt(", but", "but"), pos_short, end)),
        (2, seq(alt("although", "while", "even though"), pos_short, ",", neg_short, end)),
        (2, seq(alt("although", "while", "even though"), neg_short, ",", pos_short, end)),
        (1, seq(alt("three stars", "two stars", "four stars"), ",",
                alt(seq(pos_detail, alt(", but", ", although"), neg_detail),
                    seq(neg_detail, alt(", but", ", although"), pos_detail)), end)),
        (1, seq(drink_np, alt("is", "tastes"), pos_taste, alt("when it works", "on a good day",
                                                             "for the first week"), end)),
        (1, seq("great", alt("machine", "coffee maker"), ", terrible",
                alt("app", "customer support", "manual", "warranty"), end)),
    )

    # --- neutral: facts about use, no verdict ---------------------------------------------
    neutral = alt(
        seq("i bought", product, when_ago, opt(seq("for", alt("my office", "my kitchen",
                                                           "our cabin", "my parents")), 0.4), "."),
        seq("i use it", freq, "for", alt(drink_pl, seq("my", drink)), "."),
        seq(alt("it", product), alt("comes with", "includes", "ships with"),
            _words("a milk jug, a cleaning brush, two filters, a measuring spoon, "
                   "a descaling kit, a quick start guide, a travel mug"),
            opt(seq("and", _words("a water filter, a user manual, a power cord, "
                                  "a spare gasket")), 0.5), "."),
        seq("the", alt("water tank", "glass carafe"), "holds", alt("about", "up to", "exactly"),
            number, "cups", "."),
        seq("the bean hopper holds", alt("about", "up to"), alt("half a pound", "a pound",
                                                               "two hundred grams"), "of beans", "."),
        seq(alt(person_sg, person_pl), alt("gave it to me", "bought it for me"),
            alt("as a gift", "for my birthday", "for christmas", "as a housewarming present"), "."),
        seq("i mostly", alt("use it for", "make"),
            alt((3, drink_pl), _words("espresso, cold brew, drip coffee, iced coffee, decaf")),
            freq, "."),
        seq(qfeature, alt("takes about", "needs"), number, alt("minutes", "seconds"),
            "to", alt("warm up", "calibrate", "sync"), "."),
        seq("i", alt("have not tried", "have not used", "still need to try"), qfeature,
            alt("yet", "so far"), "."),
        seq("i switched from", alt("a french press", "a pod machine", "instant coffee",
                                   "a cheap drip machine", "a stovetop moka pot"), "."),
        seq("i descale it", alt("once a month", "every two weeks", "every few months",
                                "when the light comes on"), "."),
        seq("it", alt("arrived", "shipped", "was delivered"),
            _words("in two days, on time, a week late, in a big box, with a free mug"), "."),
    )
    return {
        "positive": (0.4, positive),
        "negative": (0.3, negative),
        "mixed": (0.2, mixed),
        "neutral": (0.1, neutral),
    }


GRAMMAR_NAME = "quantum-coffee-maker-v1"


@functools.lru_cache(maxsize=1)
def default_grammar() -> ReviewGrammar:
    """The built-in Quantum Coffee Maker review grammar (compiled once per process)."""
    return ReviewGrammar(_build_spec(), name=GRAMMAR_NAME)


MODES: tuple[str, ...] = ("positive", "negative", "mixed", "neutral")
