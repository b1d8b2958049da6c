"""`dvc repro tokenize` (ingest + tokenize) in a tiny copy of the repo, then a no-op second run."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gantext.text.vocab import EOS_ID, Vocab

SPLITS = ("train", "valid", "test")
pytestmark = pytest.mark.slow


def test_repro_data_stages_then_nothing_to_do(tiny_repo, run_cmd) -> None:
    first = run_cmd(["dvc", "repro", "tokenize"], cwd=tiny_repo)
    log = first.stdout + first.stderr
    assert "Running stage 'ingest'" in log and "Running stage 'tokenize'" in log

    interim = {s: (tiny_repo / "data" / "interim" / f"{s}.txt").read_text(encoding="utf-8")
               .splitlines() for s in SPLITS}
    processed = tiny_repo / "data" / "processed"
    outputs = [tiny_repo / "data" / "interim" / f"{s}.txt" for s in SPLITS] + \
        [processed / f"{s}.npy" for s in SPLITS] + \
        [processed / "vocab.json", tiny_repo / "metrics" / "ingest.json",
         tiny_repo / "metrics" / "tokenize.json"]
    assert all(p.is_file() for p in outputs), [str(p) for p in outputs if not p.is_file()]

    ingest = json.loads((tiny_repo / "metrics" / "ingest.json").read_text(encoding="utf-8"))
    assert ingest["lines_read"] == 300
    from gantext.provenance import machine_info

    assert ingest["machine"] == machine_info()  # every stage says what it computed on
    assert sum(len(lines) for lines in interim.values()) == 300 - ingest["rejected"]["total"]

    m = json.loads((tiny_repo / "metrics" / "tokenize.json").read_text(encoding="utf-8"))
    vocab = Vocab.load(processed / "vocab.json")
    assert m["vocab_size"] == len(vocab) and m["vocab_hash"] == vocab.hash
    assert m["max_len"] == 30
    train_words = {t for line in interim["train"] for t in line.split()}
    assert set(vocab.itos[4:]) == train_words  # train only, min_freq 1, no cap
    for s in SPLITS:
        arr = np.load(processed / f"{s}.npy", allow_pickle=False)
        assert arr.dtype == np.int32 and arr.shape == (len(interim[s]), 31)
        assert (arr == EOS_ID).sum(axis=1).tolist() == [1] * len(arr)
        assert m[s]["sentences"] == len(interim[s])
        assert m[s]["truncation_rate"] == 0.0  # grammar sentences have <= 30 tokens
        assert 0.0 <= m[s]["oov_rate"] <= 1.0 and m[s]["length_max"] <= 30
        if s == "train":  # grammar tokens survive tokenization: decode gives the line back
            assert m[s]["oov_rate"] == 0.0
            assert [vocab.decode(row) for row in arr] == interim[s]
    # tracking went to the tmp store beside the copy, never into the repo
    assert (tiny_repo.parent / "mlflow.db").is_file() and not (tiny_repo / "mlflow.db").exists()

    stamps = {p: p.stat().st_mtime_ns for p in outputs}
    second = run_cmd(["dvc", "repro", "tokenize"], cwd=tiny_repo)
    log = second.stdout + second.stderr
    assert "Running stage" not in log, log
    assert {p: p.stat().st_mtime_ns for p in outputs} == stamps
    status = run_cmd(["dvc", "status", "tokenize"], cwd=tiny_repo)
    assert "up to date" in status.stdout, status.stdout


def test_seeds_share_one_split_and_the_split_seed_moves_it(tiny_repo, run_cmd, update_params):
    """`seed` varies the model only: ingest does not depend on it, and forced to run again under
    another seed it writes the same split byte for byte; `ingest.split_seed` moves the split."""
    run_cmd(["dvc", "repro", "ingest"], cwd=tiny_repo)
    interim = tiny_repo / "data" / "interim"
    first = {s: (interim / f"{s}.txt").read_bytes() for s in SPLITS}
    update_params(tiny_repo, {"seed": 1})
    status = run_cmd(["dvc", "status", "ingest"], cwd=tiny_repo)
    assert "up to date" in status.stdout, status.stdout
    run_cmd(["python", "-m", "stages.ingest"], cwd=tiny_repo)
    assert {s: (interim / f"{s}.txt").read_bytes() for s in SPLITS} == first
    update_params(tiny_repo, {"ingest": {"split_seed": 1}})
    assert "ingest" in run_cmd(["dvc", "status", "ingest"], cwd=tiny_repo).stdout
    run_cmd(["python", "-m", "stages.ingest"], cwd=tiny_repo)
    assert (interim / "test.txt").read_bytes() != first["test"]
