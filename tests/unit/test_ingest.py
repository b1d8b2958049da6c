"""The ingest stage: cleaning, accounting (read = kept + rejected), splits, outputs, errors."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import yaml

from gantext.config import params_from_dict
from gantext.corpus.cleaning import normalize, word_tokens
from gantext.corpus.grammar import default_grammar
from gantext.corpus.ingest import SPLITS, ingest, write_outputs
from gantext.errors import DataError
from gantext.io import read_lines
from gantext.paths import repo_paths

REPO = Path(__file__).resolve().parents[2]


def cfg(**ingest):
    ingest.setdefault("data_dir", ".")
    return params_from_dict({"ingest": ingest, "tracking": {"enabled": False}})


def salted_corpus(root: Path) -> None:
    """A txt and a csv salted with every kind of bad line."""
    (root / "data").mkdir()
    long_line = " ".join(["word"] * 12)
    (root / "data" / "a.txt").write_bytes(
        b"The  Coffee is GREAT.\n"        # 1 kept
        b"\n"                             # 2 empty
        b"   \t  \n"                      # 3 empty (whitespace only)
        + long_line.encode() + b"\n"      # 4 too_long (12 tokens > max 10)
        b"hi\n"                           # 5 too_short
        b"caf\xe9 au lait is fine\n"      # 6 undecodable (latin-1 byte)
        b"the coffee is great .\n"        # 7 duplicate of line 1 after cleaning
        b"\xef\xbc\xa1 full width letter here\n"  # 8 kept, NFKC: fullwidth A -> a
        b"another good sentence here")    # 9 kept (no final newline)
    (root / "data" / "b.csv").write_text(
        "id,text\n1,a sentence from the csv file\n2,\n3,the coffee is great .\n"
        "4,one more fine csv line\n", encoding="utf-8")


def test_salted_corpus_accounting(tmp_path):
    salted_corpus(tmp_path)
    params = cfg(source="files", paths=["data/*.txt", "data/b.csv"], min_tokens=3,
                 max_tokens=10, dedupe=True, valid_fraction=0.2, test_fraction=0.2)
    res = ingest(params.ingest, 0, tmp_path)
    m = res.metrics
    assert m["lines_read"] == 9 + 4
    assert m["lines_read"] == m["kept"]["total"] + m["rejected"]["total"]
    assert m["kept"]["total"] == sum(len(res.splits[s]) for s in SPLITS) == 5
    assert m["rejected"] == {"empty": 3, "too_short": 1, "too_long": 1, "undecodable": 1,
                             "binary": 0, "duplicate": 2, "malformed": 0, "in_test": 0,
                             "in_valid": 0, "total": 8}
    got = {(r.file, r.line): r.reason for r in res.rejects}
    assert got == {("data/a.txt", 2): "empty", ("data/a.txt", 3): "empty",
                   ("data/a.txt", 4): "too_long", ("data/a.txt", 5): "too_short",
                   ("data/a.txt", 6): "undecodable", ("data/a.txt", 7): "duplicate",
                   ("data/b.csv", 3): "empty", ("data/b.csv", 4): "duplicate"}
    undecodable = next(r for r in res.rejects if r.reason == "undecodable")
    assert undecodable.text == "caf\\xe9 au lait is fine"
    kept = sorted(s for v in res.splits.values() for s in v)
    assert kept == sorted(["the coffee is great .", "a full width letter here",
                           "another good sentence here", "a sentence from the csv file",
                           "one more fine csv line"])
    assert [len(res.splits[s]) for s in SPLITS] == [3, 1, 1]
    per_file = {f["path"]: f for f in m["inputs"]}
    assert per_file["data/a.txt"]["lines"] == 9 and per_file["data/b.csv"]["lines"] == 4
    assert all(f["lines"] == f["kept"] + f["rejected"] for f in m["inputs"])
    assert len(per_file["data/a.txt"]["md5"]) == 32

    paths = repo_paths(tmp_path)
    write_outputs(res, paths)
    rejects = [json.loads(line) for line in read_lines(paths.rejects)]
    assert len(rejects) == 8
    assert all({"file", "line", "reason", "text"} <= set(r) for r in rejects)
    on_disk = sum(len(read_lines(paths.split_text(s))) for s in SPLITS)
    assert on_disk + len(rejects) == json.loads(paths.metrics_json("ingest").read_text())[
        "lines_read"]


def test_cleaning_normalizes_and_tokenizes_to_a_fixed_point():
    assert normalize("\ufb01ne  Ｃoffee\u00a0\u2028now ", lowercase=True) == "fine coffee now"
    assert normalize("Keep Case", lowercase=False) == "Keep Case"
    for text in ['he said "hi."', "i can't go.", "a door says \"time to eat\" and more.",
                 "wheel.", "U.S.A. is big..."]:
        toks = word_tokens(text)
        assert word_tokens(" ".join(toks)) == toks


def test_builtin_source_is_seeded_and_valid(tmp_path):
    params = cfg(source="builtin", builtin={"num_sentences": 200})
    a = ingest(params.ingest, 3, tmp_path)
    b = ingest(params.ingest, 3, tmp_path)
    c = ingest(params.ingest, 4, tmp_path)
    assert a.splits == b.splits and a.metrics == b.metrics and a.splits != c.splits
    assert [len(a.splits[s]) for s in SPLITS] == [160, 20, 20]
    assert a.metrics["lines_read"] == 200 and a.metrics["rejected"]["total"] == 0
    g = default_grammar()
    assert a.metrics["grammar"]["name"] == g.name and a.metrics["grammar"]["seed"] == 3
    for s in SPLITS:
        valid, _, modes = g.score_many([line.split() for line in a.splits[s]])
        assert valid.all()
        assert dict(Counter(modes)) == a.metrics["grammar"]["modes"][s]


def test_test_paths_give_the_test_split_and_a_train_copy_of_a_test_sentence_is_dropped(tmp_path):
    (tmp_path / "train.txt").write_text("\n".join(f"train sentence number {i}" for i in range(50))
                                        + "\nshared sentence here", encoding="utf-8")
    (tmp_path / "test.txt").write_text("shared sentence here\nonly in test here\n",
                                       encoding="utf-8")
    params = cfg(source="files", paths=["train.txt"], test_paths=["test.txt"], dedupe=True,
                 valid_fraction=0.1)
    res = ingest(params.ingest, 0, tmp_path)
    assert res.splits["test"] == ["shared sentence here", "only in test here"]
    assert len(res.splits["valid"]) == 5 and len(res.splits["train"]) == 45
    # across splits it is leakage (test kept intact, the train copy dropped), not a duplicate
    assert [(r.file, r.line, r.reason) for r in res.rejects] == [("train.txt", 51, "in_test")]
    # the split is a seeded permutation; corpus order is kept inside each split
    nums = [int(s.split()[-1]) for s in res.splits["train"]]
    assert nums == sorted(nums)


@pytest.mark.parametrize("setup, ingest_cfg, message", [
    (lambda d: (d / "blank.txt").write_text("\n \n\t\n", encoding="utf-8"),
     {"paths": ["blank.txt"]}, r"nothing left after cleaning ingest.paths: 3 lines read.*empty: 3"),
    (lambda d: None, {"paths": ["nope.txt"]}, r"file 'nope.txt' not found"),
    (lambda d: (d / "x.csv").write_text("a,b\n1,2\n", encoding="utf-8"),
     {"paths": ["x.csv"]}, r"x.csv: no text column 'text'; columns found: 'a', 'b'"),
    (lambda d: (d / "t.txt").write_text("ok line here\n", encoding="utf-8"),
     {"paths": ["t.txt"], "data_dir": "missing_dir"}, r"ingest.data_dir: folder 'missing_dir'"),
    (lambda d: (d / "t.txt").write_text("one line\n", encoding="utf-8"),
     {"paths": ["t.txt"], "valid_fraction": 0.5}, r"only 1 sentences left after cleaning"),
])
def test_bad_input_raises_data_error(tmp_path, setup, ingest_cfg, message):
    setup(tmp_path)
    params = cfg(source="files", **ingest_cfg)
    with pytest.raises(DataError, match=message):
        ingest(params.ingest, 0, tmp_path)


def _stage_repo(root: Path, ingest_cfg: dict) -> None:
    (root / "data" / "raw").mkdir(parents=True)
    params = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    params["ingest"].update(ingest_cfg)
    params["tracking"]["enabled"] = False
    (root / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")


def _run_stage(root: Path, monkeypatch) -> int:
    """Run the stage entry point in-process (as `python -m stages.ingest` would) in `root`."""
    monkeypatch.chdir(root)
    monkeypatch.syspath_prepend(str(REPO))
    from stages._common import run
    from stages.ingest import main

    try:
        run(main)
    except SystemExit as exc:
        return int(exc.code)
    return 0


def test_stage_writes_outputs(tmp_path, monkeypatch):
    _stage_repo(tmp_path, {"source": "builtin", "builtin": {"num_sentences": 50}})
    assert _run_stage(tmp_path, monkeypatch) == 0
    paths = repo_paths(tmp_path)
    m = json.loads(paths.metrics_json("ingest").read_text())
    assert m["kept"] == {"train": 40, "valid": 5, "test": 5, "total": 50}
    assert len(read_lines(paths.split_text("train"))) == 40
    assert paths.rejects.read_text() == ""


def test_stage_bad_input_one_error_line_no_outputs(tmp_path, monkeypatch, capsys):
    _stage_repo(tmp_path, {"source": "files", "paths": ["data/raw/*.txt"]})
    (tmp_path / "data" / "raw" / "blank.txt").write_text("\n\n", encoding="utf-8")
    assert _run_stage(tmp_path, monkeypatch) == 1
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: nothing left after cleaning"), lines
    assert not (tmp_path / "data" / "interim").exists()
    assert not (tmp_path / "metrics").exists()
