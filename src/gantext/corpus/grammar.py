"""The built-in "Quantum Coffee Maker" review grammar: the data (words, phrases, mode priors).

The engine that compiles it into a probabilistic automaton, samples it and answers the exact
oracle (probability, validity, mode) is :mod:`gantext.corpus.grammar_engine`; its guarantees
hold for this grammar: the modes have disjoint languages (checked by
:meth:`ReviewGrammar.mode_overlap`), and tokens are lower-case and stable under nltk's word
tokenizer (no apostrophes, hyphens, or words such as "cannot" that nltk splits), so
``" ".join(tokens)`` survives the tokenize stage unchanged.
"""

from __future__ import annotations

import functools

from gantext.corpus.grammar_engine import Alt, Expr, Opt, ReviewGrammar, Seq, alt, opt, seq

__all__ = [
    "MODES",
    "Alt",
    "Opt",
    "ReviewGrammar",
    "Seq",
    "alt",
    "default_grammar",
    "opt",
    "seq",
]


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
