"""The evaluation orchestration on a tiny fake setup: grammar corpus written in tmp_path, two
tiny random generators. Checks keys, agreement with nltk, determinism and the written files."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

from gantext.config import EvaluateConfig, FIDConfig
from gantext.corpus.grammar import MODES, default_grammar
from gantext.errors import DataError
from gantext.evaluation import (
    CI_KEYS,
    DELTA_KEYS,
    draw_samples,
    evaluate,
    load_eval_data,
    stream_seed,
    write_outputs,
)
from gantext.io import read_json, read_lines, write_json, write_lines
from gantext.metrics.quality_diversity import COLUMNS
from gantext.models.generator import GeneratorSpec, build_generator
from gantext.paths import repo_paths
from gantext.text.tokenizer import tokenize_lines
from gantext.text.vocab import Vocab, encode

MAX_LEN = 12
CFG = EvaluateConfig(num_samples=24, sweep_temperatures=(0.8, 1.3), sweep_samples=10,
                     batch_size=16, fid=FIDConfig(svd_dim=6), device="cpu")
SMOOTH = SmoothingFunction().method1


def make_repo(root, n_train=160, n_test=30, level="word", max_len=MAX_LEN):
    """data/interim + data/processed as ingest and tokenize would write them (grammar text)."""
    paths = repo_paths(root)
    sents = default_grammar().sample(n_train + 10 + n_test, seed=5)
    splits = {"train": sents[:n_train], "valid": sents[n_train:n_train + 10],
              "test": sents[n_train + 10:]}
    for name, ss in splits.items():
        write_lines(paths.split_text(name), [" ".join(s) for s in ss])
    tokens = {name: tokenize_lines(read_lines(paths.split_text(name)), level) for name in splits}
    vocab = Vocab.build(tokens["train"][: n_train // 2], level=level)  # some <unk> in test
    paths.processed.mkdir(parents=True, exist_ok=True)
    write_json(paths.vocab, vocab.to_json())
    for name, ss in tokens.items():
        np.save(paths.encoded(name), encode(vocab, ss, max_len)[0])
    return paths, vocab


def tiny_generator(vocab, seed):
    torch.manual_seed(seed)
    return build_generator(GeneratorSpec(len(vocab), embed_dim=8, hidden_dim=16, max_len=MAX_LEN)).eval()


def tiny_eval(root):
    """(eval data, a tiny protocol, vocab) for tests of an extra evaluation row."""
    paths, vocab = make_repo(root, n_train=60, n_test=8)
    cfg = EvaluateConfig(num_samples=6, sweep_temperatures=(1.0,), sweep_samples=4, batch_size=8,
                         fid=FIDConfig(svd_dim=3))
    return load_eval_data(paths), cfg, vocab


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    paths, vocab = make_repo(tmp_path_factory.mktemp("repo"))
    data = load_eval_data(paths)
    gens = {"mle": tiny_generator(vocab, 0), "gan": tiny_generator(vocab, 1)}
    result = evaluate(gens, data, CFG, seed=3, oracle=default_grammar(), modes=MODES,
                      log=lambda m: None)
    return paths, data, gens, result


def nltk_mean(hyps, refs_for):
    w = {n: (1 / n,) * n for n in (2, 3, 4, 5)}
    return {n: sum(sentence_bleu(refs_for(i), h, weights=w[n], smoothing_function=SMOOTH)
                   for i, h in enumerate(hyps)) / len(hyps) for n in w}


def test_load_eval_data_uses_raw_test_tokens(setup):
    _, data, _, _ = setup
    assert len(data.test) == 30 and len(data.train) == 160 and data.max_len == MAX_LEN
    assert data.test_encoded.shape == (30, MAX_LEN + 1)
    # references are the raw sentences: no <unk>, not truncated at max_len
    assert all("<unk>" not in s for s in data.test)
    assert max(len(s) for s in data.test) > MAX_LEN


def test_metric_keys(setup):
    *_, result = setup
    m = result.metrics
    assert set(m) == {"mle", "gan", "real", "delta", "protocol", "verdict"}
    for name in ("mle", "gan"):
        for k in ("bleu2", "bleu5", "sbleu2", "sbleu5", "fid", "fid_train", "fid_train_lo",
                  "mauve", "mauve_test", "nll", "nll_anchor", "validity",
                  "oracle_nll", "oracle_nll_token", "oracle_nll_gap", "oracle_invalid", "mode_js",
                  "len", "n_samples", "n_refs", "bleu5_lo", "bleu5_hi", "fid_lo", "fid_hi"):
            assert k in m[name], (name, k)
    for k in ("bleu2", "sbleu5", "fid_floor", "fid_halves", "fid_shuffle_ratio", "validity",
              "oracle_nll", "mode_js", "n_samples", "n_refs", "pool_size", "fid_floor_lo",
              "fid_train_floor", "fid_train_floor_lo", "mauve", "mauve_test"):
        assert k in m["real"], k
    v = m["verdict"]
    # two random tiny generators: their curves may not overlap (then no gap, and the line says so)
    assert v["vs_mle"] in (-1, 0, 1, None) and v["vs_mle_lm"] in (-1, 0, 1, None)
    if v["vs_mle"] is None:
        assert "gap_mean" not in v and "not comparable" in v["line"]
    else:
        assert v["gap_mean_lo"] <= v["gap_mean"] <= v["gap_mean_hi"] <= v["gap_max_hi"]
    assert "vs_control" not in v  # no control generator here
    assert v["fid_train_vs_mle"] in (-1, 0, 1) and v["line"].startswith("above MLE's curve: ")
    assert m["real"]["validity"] == 1.0  # the real sample is grammar output
    assert set(m["delta"]) <= set(DELTA_KEYS) | {f"{k}_{e}" for k in CI_KEYS for e in ("lo", "hi")}
    for k in DELTA_KEYS:
        if k in m["delta"]:
            assert m["delta"][k] == m["gan"][k] - m["mle"][k]
    for k in CI_KEYS:
        assert m["delta"][f"{k}_lo"] <= m["delta"][k] <= m["delta"][f"{k}_hi"]
    assert "oracle_nll" not in m["delta"]  # a raw lower-is-better figure is not a delta
    assert m["protocol"]["ci_resamples"] > 0 and len(m["protocol"]["fid_extractor_md5"]) == 32


def test_bleu_and_self_bleu_match_nltk(setup):
    _, data, _, result = setup
    for name in ("mle", "gan"):
        hyps = result.samples[name]
        b = nltk_mean(hyps, lambda i: data.test)
        s = nltk_mean(hyps, lambda i: hyps[:i] + hyps[i + 1:])
        for n in (2, 3, 4, 5):
            assert result.metrics[name][f"bleu{n}"] == pytest.approx(b[n], abs=1e-12)
            assert result.metrics[name][f"sbleu{n}"] == pytest.approx(s[n], abs=1e-12)


def test_samples_and_sweep_are_deterministic(setup):
    paths, data, gens, result = setup
    again = evaluate(gens, data, CFG, seed=3, oracle=default_grammar(), modes=MODES,
                     log=lambda m: None)
    assert again.metrics == result.metrics
    assert again.samples == result.samples
    assert again.qd_rows == result.qd_rows
    other = draw_samples(gens["mle"], data.vocab, 24, MAX_LEN, 1.0, stream_seed(4, 1), 16)
    assert other != result.samples["mle"]


def test_draw_samples_is_seeded(setup):
    _, data, gens, _ = setup
    a = draw_samples(gens["gan"], data.vocab, 20, MAX_LEN, 1.0, 7, batch_size=8)
    b = draw_samples(gens["gan"], data.vocab, 20, MAX_LEN, 1.0, 7, batch_size=8)
    assert a == b and all(len(s) <= MAX_LEN for s in a)


def test_quality_diversity_rows(setup):
    *_, result = setup
    rows = result.qd_rows
    assert [(r["model"], r["temperature"]) for r in rows] == [
        ("mle", 0.8), ("mle", 1.3), ("gan", 0.8), ("gan", 1.3), ("real", "")]
    assert all(set(r) == set(COLUMNS)
               for r in rows)
    assert {r["n"] for r in rows} == {CFG.sweep_samples}  # the real point at the models' n
    assert rows[-1]["validity"] == 1.0


def test_write_outputs(setup):
    paths, _, _, result = setup
    write_outputs(result, paths)
    saved = read_json(paths.metrics_json("evaluate"))
    assert saved == result.metrics  # exact float round trip
    # the headline figures come first (the first columns of `dvc exp show`)
    assert list(saved) == ["verdict", "mle", "gan", "delta", "real", "protocol"]
    assert list(saved["verdict"])[:2] == ["vs_mle", "vs_mle_lm"]
    assert list(saved["mle"])[:14] == ["bleu2", "bleu3", "bleu4", "bleu5", "sbleu2", "sbleu3",
                                       "sbleu4", "sbleu5", "fid_train", "fid", "mauve",
                                       "mauve_test", "nll", "nll_anchor"]
    assert list(saved["real"])[8:12] == ["fid_train_floor", "fid_floor", "mauve", "mauve_test"]
    for name in ("mle", "gan"):
        lines = read_lines(paths.samples_dir / f"{name}.txt")
        assert [line.split() for line in lines] == result.samples[name]
    assert set(read_json(paths.samples_dir / "modes.json")) == {"mle", "gan", "test"}
    header = read_lines(paths.plot_csv("quality_diversity"))[0]
    assert header == ",".join(COLUMNS)
    assert paths.fid_extractor.is_file()


def test_without_oracle_there_are_no_oracle_keys(tmp_path):
    paths, vocab = make_repo(tmp_path, n_train=60, n_test=8)
    data = load_eval_data(paths)
    cfg = EvaluateConfig(num_samples=6, sweep_temperatures=(1.0,), sweep_samples=4, batch_size=8,
                         fid=FIDConfig(svd_dim=3))
    res = evaluate({"mle": tiny_generator(vocab, 0)}, data, cfg, seed=0, log=lambda m: None)
    assert "validity" not in res.metrics["mle"] and "delta" not in res.metrics
    assert set(res.qd_rows[0]) == set(COLUMNS) - {"validity", "validity_lm"}


def test_char_level_scores_characters_and_asks_the_grammar_in_words(tmp_path):
    paths, vocab = make_repo(tmp_path, n_train=60, n_test=8, level="char", max_len=40)
    data = load_eval_data(paths)
    assert data.level == "char" and all(len(tok) == 1 for s in data.test for tok in s)
    cfg = EvaluateConfig(num_samples=6, sweep_temperatures=(1.0,), sweep_samples=4, batch_size=8,
                         fid=FIDConfig(svd_dim=3))
    torch.manual_seed(0)
    gen = build_generator(GeneratorSpec(len(vocab), embed_dim=8, hidden_dim=16, max_len=40))
    res = evaluate({"mle": gen}, data, cfg, seed=0, oracle=default_grammar(), modes=MODES,
                   log=lambda m: None)
    assert all(len(tok) == 1 or tok == "<unk>" for s in res.samples["mle"] for tok in s)
    assert 0.0 <= res.metrics["mle"]["validity"] <= 1.0
    # the real sample (held-out real sentences), re-read as words, is all grammatical
    assert res.metrics["real"]["validity"] == 1.0
    write_outputs(res, paths)
    assert read_lines(paths.samples_dir / "mle.txt") == ["".join(s) for s in res.samples["mle"]]


def test_stale_text_vs_encoded_is_refused(tmp_path):
    paths, _ = make_repo(tmp_path, n_train=40, n_test=8)
    lines = read_lines(paths.split_text("test"))
    write_lines(paths.split_text("test"), lines[:-1])
    with pytest.raises(DataError, match="stale"):
        load_eval_data(paths)


def test_stream_seeds_are_distinct_and_stable():
    seeds = {stream_seed(0, k) for k in range(1, 7)} | {stream_seed(1, 1), stream_seed(0, 2, 0)}
    assert len(seeds) == 8
    assert stream_seed(0, 1) == stream_seed(0, 1)


def test_valid_split_as_reference(tmp_path):
    paths, _ = make_repo(tmp_path, n_train=40, n_test=8)
    data = load_eval_data(paths, "valid")
    assert data.test == tokenize_lines(read_lines(paths.split_text("valid")), "word")
    assert data.test_encoded.shape == (10, MAX_LEN + 1)
    write_lines(paths.split_text("valid"), read_lines(paths.split_text("valid"))[:3])
    with pytest.raises(DataError, match="evaluate.split = valid.*raise ingest.valid_fraction"):
        load_eval_data(paths, "valid")


def test_the_sweep_point_at_the_headline_temperature_reuses_the_headline_samples(tmp_path):
    from gantext.metrics.quality_diversity import qd_row

    paths, vocab = make_repo(tmp_path, n_train=60, n_test=8)
    data = load_eval_data(paths)
    cfg = EvaluateConfig(num_samples=12, sweep_temperatures=(0.7, 1.0), sweep_samples=6,
                         batch_size=8, fid=FIDConfig(svd_dim=3), mauve=False)
    gens = {"mle": tiny_generator(vocab, 0), "gan": tiny_generator(vocab, 1)}
    res = evaluate(gens, data, cfg, seed=3, log=lambda m: None)
    for name in gens:
        row = next(r for r in res.qd_rows if r["model"] == name and r["temperature"] == 1.0)
        assert row == qd_row(name, 1.0, res.samples[name][:6], data.test)
