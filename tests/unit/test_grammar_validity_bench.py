"""bench/grammar_validity.py: the oracle as a discriminator and the reading at the data's diversity."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
import grammar_validity as gv  # noqa: E402

from gantext.corpus.grammar import default_grammar  # noqa: E402
from gantext.evaluation import OracleContext  # noqa: E402
from gantext.models.generator import build_generator  # noqa: E402
from gantext.text.vocab import BOS_ID, PAD_ID, Vocab, encode  # noqa: E402


def test_the_oracle_critic_scores_a_valid_row_0_and_an_invalid_one_minus_the_clip():
    grammar = default_grammar()
    sents = grammar.sample(4, seed=0)
    broken = list(reversed(sents[0]))  # the same words backwards: not a sentence of the grammar
    vocab = Vocab.build(sents)
    rows, _ = encode(vocab, [*sents, broken], max_len=40)
    critic = gv.OracleCritic(OracleContext(grammar, tuple(grammar.modes), "word"), vocab, 5.0)
    assert critic(torch.as_tensor(rows).long()).tolist() == [0.0] * 4 + [-5.0]
    # the objective's Adam needs a parameter to hold; the critic has nothing else to train
    assert [p.numel() for p in critic.parameters()] == [1]


def test_validity_is_read_where_the_curve_crosses_the_data_s_self_bleu():
    curve = [{"sbleu5": 0.75, "validity": 0.9}, {"sbleu5": 0.71, "validity": 0.8},
             {"sbleu5": 0.69, "validity": 0.7}]
    assert gv.at_real_diversity(curve, 0.70) == pytest.approx(0.75)
    assert gv.at_real_diversity(curve, 0.73) == pytest.approx(0.85)
    # a curve that never comes down to the data's diversity has no reading there
    assert gv.at_real_diversity(curve[:2], 0.70) is None
    assert gv.at_real_diversity(curve[:1], 0.75) is None


def test_the_bayes_critic_is_the_exact_log_ratio_of_the_generator_it_is_given():
    grammar = default_grammar()
    sents = grammar.sample(6, seed=1)
    broken = list(reversed(sents[0]))
    vocab = Vocab.build(sents)
    rows, _ = encode(vocab, [*sents, broken], max_len=40)
    rows = torch.as_tensor(rows).long()
    torch.manual_seed(0)
    gen = build_generator(dict(vocab_size=len(vocab), embed_dim=8, hidden_dim=16, max_len=40))
    ctx = OracleContext(grammar, tuple(grammar.modes), "word")
    critic = gv.BayesCritic(ctx, vocab, 5.0, gen)
    logits = critic(rows)
    logp_data = [grammar.score(s)[1] for s in sents]
    with torch.no_grad():
        logp_g = (-gen.token_nll(rows).sum(1)).tolist()
    expected = [d - g for d, g in zip(logp_data, logp_g)]
    assert logits[:6].tolist() == pytest.approx(expected, abs=1e-4)
    assert logits[6].item() == -5.0
    # G is trained by the G step, never by the objective's D optimizer
    assert [p.numel() for p in critic.parameters()] == [1]


def test_the_tempered_log_probability_is_the_sampler_s_density_at_that_temperature():
    torch.manual_seed(0)
    gen = build_generator(dict(vocab_size=9, embed_dim=8, hidden_dim=16, max_len=6)).eval()
    rows, _ = gen.sample(5, 6, 1.7, torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert gv.tempered_logprob(gen, rows, 1.0).tolist() == pytest.approx(
            (-gen.token_nll(rows).sum(1)).tolist(), abs=1e-5)
        # step by step, as the sampler draws: softmax(logits / T) at each real position
        logits, state = gen.step(torch.full((5,), BOS_ID, dtype=torch.long), None)
        total = torch.zeros(5)
        for j in range(rows.shape[1]):
            logq = torch.log_softmax(gen.masked(logits) / 1.7, -1)
            total += logq.gather(1, rows[:, j:j + 1]).squeeze(1) * (rows[:, j] != PAD_ID)
            logits, state = gen.step(rows[:, j], state)
    assert gv.tempered_logprob(gen, rows, 1.7).tolist() == pytest.approx(total.tolist(), abs=1e-5)


# an untrained generator's samples are all invalid: no valid/invalid AUC to read (nan)
@pytest.mark.filterwarnings("ignore:Only one class is present")
@pytest.mark.parametrize("arch", ["cnn", "lstm"])
def test_d_sight_runs_per_architecture_and_trains_prefix_scorers_as_scratchgan(arch):
    """--d-archs: each D architecture's sight; one that scores prefixes is also trained with
    the per-prefix cross-entropy (scratchgan's D loss) and read at each row's <eos>."""
    from gantext.config import params_from_dict
    from gantext.data import Corpus

    grammar = default_grammar()
    sents = grammar.sample(200, seed=2)
    vocab = Vocab.build(sents)
    rows = torch.as_tensor(encode(vocab, sents, max_len=30)[0]).long()
    corpus = Corpus(vocab, rows[:150], rows[150:], rows[150:])
    params = params_from_dict({"model": {"discriminator": {
        "embed_dim": 8, "num_filters": 4, "lstm": {"hidden_dim": 8}}}})
    torch.manual_seed(0)
    gen = build_generator(dict(arch="lstm", vocab_size=len(vocab), embed_dim=8, hidden_dim=8,
                               max_len=30)).eval()
    ctx = OracleContext(grammar, tuple(grammar.modes), "word")
    sight = gv.d_sight(gen, corpus, params, ctx, steps=2, seed=0, batch=8, holdout=64, every=1,
                       arch=arch)
    want = {"real_vs_fake", "oracle_labels"} | ({"real_vs_fake_prefixes"} if arch == "lstm" else set())
    assert set(sight) == want
    assert all(0.0 <= r["auc_real_fake"] <= 1.0 for rows_ in sight.values() for r in rows_)
