"""Tokenizer, vocabulary, encoding and the tokenize stage's logic (tiny inputs, no files but tmp)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gantext.config import TokenizeConfig
from gantext.errors import DataError
from gantext.paths import repo_paths
from gantext.text.prepare import read_splits, tokenize_splits, write_tokenized
from gantext.text.tokenizer import detokenize, tokenize, tokenize_lines
from gantext.text.vocab import EOS_ID, PAD_ID, SPECIALS, UNK_ID, Vocab, encode, lengths

TRICKY = [
    'I don\'t like it, "really" (no).',
    "It costs $5.99... wow!",
    "a computer desk with a cup of coffee,,and cookbooks",  # nltk alone is not idempotent here
    "e.g. Mr. Smith said: yes.",
    "  spaces\tand\ttabs   everywhere ",
    "",
]


# ----------------------------------------------------------------------------- tokenizer
def test_word_tokens_follow_nltk() -> None:
    assert tokenize("I don't like it, really.", "word") == \
        ["I", "do", "n't", "like", "it", ",", "really", "."]
    assert tokenize('he said "hi"', "word") == ["he", "said", '"', "hi", '"']
    assert tokenize("   ", "word") == [] and tokenize("", "word") == []


@pytest.mark.parametrize("level", ["word", "char"])
@pytest.mark.parametrize("text", TRICKY)
def test_tokenize_is_idempotent(text: str, level: str) -> None:
    toks = tokenize(text, level)
    assert tokenize(detokenize(toks, level), level) == toks


def test_char_level_keeps_single_spaces() -> None:
    assert tokenize("ab  c\t d", "char") == ["a", "b", " ", "c", " ", "d"]


def test_tokenize_lines_matches_tokenize() -> None:
    for level in ("word", "char"):
        assert tokenize_lines(TRICKY, level) == [tokenize(t, level) for t in TRICKY]


def test_unknown_level_is_rejected() -> None:
    with pytest.raises(ValueError, match="word, char"):
        tokenize("x", "bpe")


# ----------------------------------------------------------------------------- vocab + encode
@pytest.mark.parametrize("level", ["word", "char"])
def test_round_trip_text_tokens_ids_decode(level: str) -> None:
    lines = ["the coffee maker is great .", "it's  broken, \"sadly\"!"]
    toks = tokenize_lines(lines, level)
    vocab = Vocab.build(toks, level=level)
    arr, truncated = encode(vocab, toks, max_len=40)
    assert truncated == 0
    for row, t in zip(arr, toks):
        decoded = vocab.decode(row)
        assert tokenize(decoded, level) == t
    if level == "char":  # characters restore the (whitespace-normalised) text exactly
        assert vocab.decode(arr[0]) == lines[0]


def test_encode_layout_tokens_eos_pad() -> None:
    vocab = Vocab.build([["a", "b", "c"]])
    arr, truncated = encode(vocab, [["a", "b"], [], ["c", "a", "b", "c"]], max_len=3)
    assert arr.dtype == np.int32 and arr.shape == (3, 4)
    a, b, c = vocab.stoi["a"], vocab.stoi["b"], vocab.stoi["c"]
    assert arr.tolist() == [[a, b, EOS_ID, PAD_ID],
                            [EOS_ID, PAD_ID, PAD_ID, PAD_ID],
                            [c, a, b, EOS_ID]]  # truncated to max_len, <eos> still last
    assert truncated == 1
    assert lengths(arr).tolist() == [2, 0, 3]


def test_oov_maps_to_unk() -> None:
    vocab = Vocab.build([["good", "coffee"]])
    arr, _ = encode(vocab, [["bad", "coffee"]], max_len=4)
    assert arr[0, 0] == UNK_ID
    assert vocab.decode(arr[0]) == "<unk> coffee"


def test_vocab_order_is_frequency_then_alphabetical() -> None:
    sents = [["b", "a", "c"], ["c", "d"], ["c", "b", "a"]]
    vocab = Vocab.build(sents)
    assert vocab.itos == SPECIALS + ("c", "a", "b", "d")
    assert Vocab.build(list(reversed(sents))).itos == vocab.itos  # input order does not matter
    assert Vocab.build(sents, min_freq=2).itos == SPECIALS + ("c", "a", "b")
    assert Vocab.build(sents, max_size=2).itos == SPECIALS + ("c", "a")
    assert Vocab.from_json(json.loads(json.dumps(vocab.to_json()))) == vocab


# ----------------------------------------------------------------------------- stage logic
def _texts() -> dict[str, list[str]]:
    return {
        "train": ["the coffee is hot .", "the coffee is cold .", "a very very long review indeed ."],
        "valid": ["the tea is hot ."],
        "test": ["the coffee is lukewarm !", "hot ."],
    }


def test_vocab_from_train_only_and_metrics() -> None:
    res = tokenize_splits(_texts(), TokenizeConfig(max_len=5))
    assert "tea" not in res.vocab.stoi and "lukewarm" not in res.vocab.stoi
    assert res.vocab.itos[4:7] == (".", "coffee", "is")  # counts 3, 2, 2 ("is" < "the")
    m = res.metrics
    assert m["vocab_size"] == len(res.vocab) == 4 + 11
    assert m["train_types"] == 11
    assert m["vocab_hash"] == res.vocab.hash
    assert m["valid"]["oov_tokens"] == 1 and m["valid"]["oov_rate"] == pytest.approx(1 / 5)
    assert m["test"]["oov_rate"] == pytest.approx(2 / 7)  # "lukewarm", "!"
    assert m["train"]["oov_rate"] == 0.0
    assert m["train"]["truncated"] == 1 and m["train"]["truncation_rate"] == pytest.approx(1 / 3)
    assert m["train"]["length_max"] == 7 and m["train"]["length_mean"] == pytest.approx(17 / 3)
    assert m["test"]["length_p95"] == pytest.approx(float(np.percentile([5, 2], 95)))
    for s, n in (("train", 3), ("valid", 1), ("test", 2)):
        assert res.arrays[s].shape == (n, 6) and res.arrays[s].dtype == np.int32
        assert m[s]["sentences"] == n


def test_min_freq_makes_rare_train_tokens_unknown() -> None:
    res = tokenize_splits(_texts(), TokenizeConfig(min_freq=2, max_len=8))
    assert res.vocab.itos[4:] == (".", "coffee", "is", "the", "very")
    assert res.metrics["train"]["oov_tokens"] == 6  # hot cold a long review indeed


def test_empty_train_is_a_data_error() -> None:
    with pytest.raises(DataError, match="train split is empty"):
        tokenize_splits({"train": [], "valid": ["a"], "test": ["b"]}, TokenizeConfig())


def test_missing_interim_names_the_fix(tmp_path) -> None:
    with pytest.raises(DataError, match="dvc repro ingest"):
        read_splits(repo_paths(tmp_path))


def test_write_and_reload_is_deterministic(tmp_path) -> None:
    paths = repo_paths(tmp_path)
    paths.interim.mkdir(parents=True)
    for s, lines in _texts().items():
        paths.split_text(s).write_text("".join(f"{x}\n" for x in lines), encoding="utf-8")
    cfg = TokenizeConfig(max_len=5)
    write_tokenized(tokenize_splits(read_splits(paths), cfg), paths)
    first = {p.name: p.read_bytes() for p in sorted(paths.processed.iterdir())}
    assert sorted(first) == ["test.npy", "train.npy", "valid.npy", "vocab.json"]
    assert not list(paths.processed.glob(".*"))  # no temp files left behind
    write_tokenized(tokenize_splits(read_splits(paths), cfg), paths)
    assert {p.name: p.read_bytes() for p in sorted(paths.processed.iterdir())} == first
    vocab = Vocab.load(paths.vocab)
    train = np.load(paths.encoded("train"), allow_pickle=False)
    assert vocab.decode(train[0]) == "the coffee is hot ."
    assert json.loads(paths.metrics_json("tokenize").read_text())["vocab_hash"] == vocab.hash


def test_vocab_from_train_and_valid_never_test() -> None:
    res = tokenize_splits(_texts(), TokenizeConfig(max_len=5, vocab_splits=("train", "valid")))
    assert "tea" in res.vocab.stoi and "lukewarm" not in res.vocab.stoi
    assert res.metrics["vocab_splits"] == ["train", "valid"]
    assert res.metrics["valid"]["oov_tokens"] == 0
    assert res.metrics["train_types"] == 11  # still the train split's own count


@pytest.mark.parametrize("splits", [[], ["valid"], ["train", "test"]])
def test_vocab_splits_must_hold_train_and_never_test(splits) -> None:
    from gantext.config import ConfigError, params_from_dict

    with pytest.raises(ConfigError, match="tokenize.vocab_splits"):
        params_from_dict({"tokenize": {"vocab_splits": splits}})


# ----------------------------------------------------------------------------- max_len
def test_max_len_auto_is_the_99th_percentile_of_train_lengths() -> None:
    from gantext.text.prepare import truncation_warnings

    # train lengths 1..100: the 99th percentile (linear) is 99.01 -> 100 rounded up; one
    # sentence of 150 tokens in test
    texts = {"train": ["v"] + [" ".join(["w"] * k) for k in range(2, 101)], "valid": ["w w"],
             "test": [" ".join(["w"] * 150)]}
    res = tokenize_splits(texts, TokenizeConfig(max_len="auto"))
    assert res.metrics["max_len"] == 100 and res.metrics["max_len_auto"] is True
    assert res.arrays["train"].shape[1] == 101
    assert res.metrics["train"]["truncated"] == 0 and res.metrics["test"]["truncated"] == 1
    warned = truncation_warnings(res.metrics)
    assert len(warned) == 1 and "100.0% of the test split" in warned[0]
    assert "auto" in warned[0]
    fixed = tokenize_splits(texts, TokenizeConfig(max_len=32))
    assert fixed.metrics["max_len"] == 32 and fixed.metrics["max_len_auto"] is False
    assert [w.split(" of the ")[1].split()[0] for w in truncation_warnings(fixed.metrics)] == [
        "train", "test"]  # 68% of train, all of test; valid (2 tokens) fits


def test_max_len_auto_does_not_follow_one_outlier() -> None:
    from gantext.text.prepare import AUTO_MEDIAN_FACTOR, truncation_warnings

    # 50 short lines (11-15 tokens, median 13) + one 5,000-word line: the 99th percentile alone
    # interpolates to 2,508 and makes every row 2,509 wide; the median cap keeps 52
    short = [" ".join(["w"] * (11 + i % 5)) for i in range(50)]
    texts = {"train": short + [" ".join(["x"] * 5000)], "valid": ["w w"], "test": ["w w w"]}
    res = tokenize_splits(texts, TokenizeConfig(max_len="auto"))
    assert res.metrics["max_len"] == AUTO_MEDIAN_FACTOR * 13 == 52
    assert res.arrays["train"].shape == (51, 53)
    assert res.metrics["max_len_rule"] == ("p99 of train lengths 2508, capped at 4 x the median "
                                           "13 = 52")
    assert res.metrics["train"]["truncated"] == 1
    # the warning reads the auto rule instead of advising to set auto (it already is)
    res = tokenize_splits({**texts, "train": short[:20] + [" ".join(["x"] * 5000)]},
                          TokenizeConfig(max_len="auto"))
    (warned,) = truncation_warnings(res.metrics)
    assert "tokenize.max_len is auto (p99 of train lengths" in warned
    assert "set it to auto" not in warned and "set a number" in warned


def test_truncation_of_at_most_one_percent_is_not_warned() -> None:
    from gantext.text.prepare import truncation_warnings

    texts = {"train": ["a b"] * 99 + ["a b c d"], "valid": ["a"], "test": ["a b"]}
    res = tokenize_splits(texts, TokenizeConfig(max_len=3))
    assert res.metrics["train"]["truncation_rate"] == 0.01 and truncation_warnings(res.metrics) == []


def test_max_len_param_accepts_auto_or_a_positive_integer() -> None:
    from gantext.config import ConfigError, params_from_dict

    assert params_from_dict({"tokenize": {"max_len": "auto"}}).tokenize.max_len == "auto"
    assert params_from_dict({"tokenize": {"max_len": 9}}).tokenize.max_len == 9
    for bad in ("automatic", 0, 2.5, True):
        with pytest.raises(ConfigError, match="tokenize.max_len"):
            params_from_dict({"tokenize": {"max_len": bad}})
