"""LM / reverse-LM scores (gantext.metrics.reverse_lm): what each ruler sees, determinism, and
the evaluate hook (one optional block of keys per row)."""

import dataclasses

import pytest
import torch

from gantext.corpus.grammar import default_grammar
from gantext.evaluation import evaluate
from gantext.metrics.reverse_lm import ReverseLMConfig, lm_scores
from gantext.text.vocab import Vocab, encode

CFG = ReverseLMConfig(enabled=True, embed_dim=16, hidden_dim=32, epochs=6, batch_size=32,
                      lr=0.01, patience=2)


@pytest.fixture(scope="module")
def grammar():
    sents = default_grammar().sample(900, seed=7)
    train, valid, test = sents[:600], sents[600:700], sents[700:]
    vocab = Vocab.build(train)
    max_len = max(len(s) for s in sents)
    ref = torch.from_numpy(encode(vocab, test, max_len)[0].astype("int64"))
    return train, valid, test, vocab, max_len, ref


def test_the_two_rulers_see_quality_and_coverage(grammar):
    """Real sentences score best on both; a single sentence repeated is easy for the real-data
    LM (a typical sentence) but its reverse LM cannot predict the data (no coverage); shuffled
    words keep the coverage of the vocabulary but read badly (LM score)."""
    train, valid, test, vocab, max_len, ref = grammar
    fresh = default_grammar().sample(300, seed=11)
    g = torch.Generator().manual_seed(0)
    shuffled = [[s[i] for i in torch.randperm(len(s), generator=g).tolist()] for s in fresh]
    rows = {"real": fresh, "collapsed": [fresh[0]] * 300, "shuffled": shuffled}
    got = lm_scores(rows, train, valid, ref, vocab, max_len, CFG, seed=0)
    assert got["real"]["lm_score"] < got["shuffled"]["lm_score"]
    assert got["real"]["reverse_lm_score"] < got["collapsed"]["reverse_lm_score"]
    assert got["collapsed"]["lm_score"] < got["shuffled"]["lm_score"]
    assert got["real"]["reverse_lm_train"] == 270  # a tenth early-stops the reverse LM
    again = lm_scores({"real": fresh}, train, valid, ref, vocab, max_len, CFG, seed=0)
    assert again["real"] == got["real"]  # deterministic (CPU)


def test_evaluate_adds_the_block_to_every_row_only_when_enabled(tmp_path):
    from test_evaluation import tiny_eval, tiny_generator

    data, cfg, vocab = tiny_eval(tmp_path)
    gens = {"mle": tiny_generator(vocab, 0), "gan": tiny_generator(vocab, 1)}
    off = evaluate(gens, data, cfg, seed=0, log=lambda m: None)
    assert not any("lm_score" in off.metrics[r] for r in ("mle", "gan", "real"))
    on_cfg = dataclasses.replace(cfg, reverse_lm=dataclasses.replace(CFG, epochs=1))
    on = evaluate(gens, data, on_cfg, seed=0, log=lambda m: None)
    for row in ("mle", "gan", "real"):
        assert {"lm_score", "reverse_lm_score", "reverse_lm_train"} <= set(on.metrics[row])
        assert on.metrics[row]["lm_score"] > 0
    # the other figures do not move (the LMs draw from their own streams)
    assert on.metrics["mle"]["bleu5"] == off.metrics["mle"]["bleu5"]
    assert on.metrics["verdict"] == off.metrics["verdict"]
