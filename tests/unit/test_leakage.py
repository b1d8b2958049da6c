"""Train/held-out leakage: no valid/test sentence also in train by default, every drop accounted."""

from __future__ import annotations

import json

import pytest

from gantext.config import params_from_dict
from gantext.corpus.ingest import SPLITS, ingest, write_outputs
from gantext.errors import ConfigError, DataError
from gantext.io import read_lines
from gantext.paths import repo_paths


def files_cfg(**ingest_cfg):
    ingest_cfg.setdefault("data_dir", ".")
    return params_from_dict({"ingest": {"source": "files", **ingest_cfg}}).ingest


def _check_invariants(res) -> None:
    m = res.metrics
    assert m["lines_read"] == m["kept"]["total"] + m["rejected"]["total"]
    assert m["kept"]["total"] == sum(len(res.splits[s]) for s in SPLITS)
    assert len(res.rejects) == m["rejected"]["total"]
    assert all(f["lines"] == f["kept"] + f["rejected"] for f in m["inputs"])
    assert sum(f["kept"] for f in m["inputs"]) == m["kept"]["total"]


def _corpus_with_repeats(root, n=300, repeats=(0, 1, 2, 3, 4)):
    """n distinct sentences; each of `repeats` appears 4 times in total (a CSV of reviews with
    copy-pasted rows)."""
    lines = [f"review number {i} says the coffee is fine" for i in range(n)]
    lines += [lines[i] for i in repeats for _ in range(3)]
    (root / "reviews.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return lines


def test_default_drops_train_copies_of_held_out_sentences(tmp_path):
    _corpus_with_repeats(tmp_path)
    res = ingest(files_cfg(paths=["reviews.txt"]), 0, tmp_path)
    _check_invariants(res)
    held_out = set(res.splits["valid"]) | set(res.splits["test"])
    assert not held_out & set(res.splits["train"])
    m = res.metrics
    dropped = m["rejected"]["in_test"] + m["rejected"]["in_valid"]
    assert dropped > 0 and m["leakage"]["dropped"] == dropped
    assert m["leakage"]["rule"] == "drop"
    assert m["leakage"]["train_in_test"] == m["rejected"]["in_test"]
    assert m["leakage"]["train_in_valid"] == m["rejected"]["in_valid"]
    for r in res.rejects:  # every drop names its line and the split it leaked into
        assert r.reason in ("in_test", "in_valid")
        sentence = r.text
        assert sentence in (res.splits["test"] if r.reason == "in_test" else res.splits["valid"])
    # the held-out splits are intact: the same as with the rule off
    keep = ingest(files_cfg(paths=["reviews.txt"], leakage="keep"), 0, tmp_path)
    _check_invariants(keep)
    assert keep.splits["valid"] == res.splits["valid"] and keep.splits["test"] == res.splits["test"]
    assert len(keep.splits["train"]) == len(res.splits["train"]) + dropped
    assert keep.metrics["rejected"]["in_test"] == keep.metrics["rejected"]["in_valid"] == 0
    assert keep.metrics["leakage"]["train_in_test"] + keep.metrics["leakage"]["train_in_valid"] \
        == dropped


def test_rejects_file_and_metrics_on_disk(tmp_path):
    _corpus_with_repeats(tmp_path)
    res = ingest(files_cfg(paths=["reviews.txt"]), 0, tmp_path)
    paths = repo_paths(tmp_path)
    write_outputs(res, paths)
    rejects = [json.loads(x) for x in read_lines(paths.rejects)]
    m = json.loads(paths.metrics_json("ingest").read_text(encoding="utf-8"))
    assert {r["reason"] for r in rejects} <= {"in_test", "in_valid"}
    assert len(rejects) == m["rejected"]["total"] == m["rejected"]["in_test"] + m["rejected"][
        "in_valid"]
    on_disk = sum(len(read_lines(paths.split_text(s))) for s in SPLITS)
    assert on_disk + len(rejects) == m["lines_read"]
    train = set(read_lines(paths.split_text("train")))
    assert not train & (set(read_lines(paths.split_text("valid")))
                        | set(read_lines(paths.split_text("test"))))


def test_dedupe_still_means_within_a_split(tmp_path):
    _corpus_with_repeats(tmp_path)
    res = ingest(files_cfg(paths=["reviews.txt"], dedupe=True), 0, tmp_path)
    _check_invariants(res)
    # every repeat is a within-corpus duplicate, rejected before the split: nothing leaks
    assert res.metrics["rejected"]["duplicate"] == 15
    assert res.metrics["rejected"]["in_test"] == res.metrics["rejected"]["in_valid"] == 0


def test_shipped_test_split_overlapping_paths_is_reported_and_dropped_from_train(tmp_path, capsys):
    train = [f"train caption {i} of a cat" for i in range(60)]
    test = [f"test caption {i} of a dog" for i in range(20)] + train[:5]
    (tmp_path / "train.txt").write_text("\n".join(train), encoding="utf-8")
    (tmp_path / "test.txt").write_text("\n".join(test), encoding="utf-8")
    res = ingest(files_cfg(paths=["train.txt"], test_paths=["test.txt"]), 0, tmp_path)
    _check_invariants(res)
    assert res.splits["test"] == test  # the shipped test split is never touched
    lk = res.metrics["leakage"]
    assert lk["test_paths_in_paths"] == 5
    assert set(res.splits["train"]).isdisjoint(test) and set(res.splits["valid"]) & set(test) \
        == set(res.splits["valid"]) & set(train[:5])
    in_valid_copies = len(set(res.splits["valid"]) & set(train[:5]))
    assert res.metrics["rejected"]["in_test"] == 5 - in_valid_copies
    assert lk["valid_in_test"] == in_valid_copies
    err = capsys.readouterr().err
    assert "5 of the 25 test sentences (ingest.test_paths) also occur in ingest.paths" in err


def test_test_paths_equal_to_paths_is_an_error_not_a_silent_full_leak(tmp_path):
    (tmp_path / "all.txt").write_text("\n".join(f"sentence {i} here" for i in range(50)),
                                      encoding="utf-8")
    cfg = files_cfg(paths=["all.txt"], test_paths=["all.txt"], valid_fraction=0.1)
    with pytest.raises(DataError, match=r"no train sentence left: all 45 .*ingest.test_paths name "
                                        r"the same data.*ingest.leakage: keep"):
        ingest(cfg, 0, tmp_path)
    res = ingest(files_cfg(paths=["all.txt"], test_paths=["all.txt"], valid_fraction=0.1,
                           leakage="keep"), 0, tmp_path)
    assert res.metrics["leakage"]["test_paths_in_paths"] == 50
    assert res.metrics["leakage"]["train_in_test"] == 45


def test_builtin_grammar_keeps_its_repeats_by_default_but_reports_them(tmp_path):
    params = params_from_dict({"ingest": {"source": "builtin", "builtin": {"num_sentences": 400},
                                          "data_dir": "."}})
    res = ingest(params.ingest, 0, tmp_path)
    lk = res.metrics["leakage"]
    assert lk["rule"] == "keep" and lk["dropped"] == 0
    train = res.splits["train"]
    assert lk["train_in_test"] == sum(s in set(res.splits["test"]) for s in train) > 0
    forced = ingest(params_from_dict({"ingest": {"source": "builtin", "leakage": "drop",
                                                 "builtin": {"num_sentences": 400},
                                                 "data_dir": "."}}).ingest, 0, tmp_path)
    assert not set(forced.splits["train"]) & (set(forced.splits["valid"]) | set(forced.splits["test"]))
    assert forced.metrics["lines_read"] == forced.metrics["kept"]["total"] + \
        forced.metrics["rejected"]["total"]
    modes = forced.metrics["grammar"]["modes"]["train"]
    assert sum(modes.values()) == len(forced.splits["train"])


def test_leakage_values_are_validated():
    with pytest.raises(ConfigError, match=r"ingest\.leakage.*'auto', 'drop', 'keep'"):
        params_from_dict({"ingest": {"leakage": "yes"}})


def test_a_train_sentence_in_both_valid_and_test_counts_as_in_test():
    from gantext.corpus.cleaning import Kept
    from gantext.corpus.leakage import apply_leakage_rule

    def kept(*sentences):
        return [Kept("c.txt", i, s) for i, s in enumerate(sentences, start=1)]

    train = kept("both", "valid only", "test only", "neither", "both")
    valid, test = kept("both", "valid only"), kept("both", "test only")
    rep = apply_leakage_rule(train, valid, test, "drop")
    assert [(r.line, r.reason) for r in rep.rejects] == [
        (1, "in_test"), (2, "in_valid"), (3, "in_test"), (5, "in_test")]
    assert [k.sentence for k in rep.train] == ["neither"]
    m = rep.metrics
    assert (m["train_in_test"], m["train_in_valid"], m["valid_in_test"], m["dropped"]) == (3, 1, 1, 4)
