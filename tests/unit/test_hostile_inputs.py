"""Hostile inputs: each one used to crash with a traceback or mislead; now a reject or a clear error."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from gantext.config import load_params, params_from_dict
from gantext.corpus.ingest import IngestResult, ingest, write_outputs
from gantext.corpus.readers import InputFile, read_file, resolve_inputs
from gantext.errors import ConfigError, DataError
from gantext.io import read_lines
from gantext.paths import repo_paths

REPO = Path(__file__).resolve().parents[2]


def read(path: Path, column: str = "text"):
    return read_file(InputFile(path=path, display=path.name, role="paths"), column)


def files_cfg(**ingest_cfg):
    ingest_cfg.setdefault("data_dir", ".")
    return params_from_dict({"ingest": {"source": "files", **ingest_cfg}}).ingest


# ----------------------------------------------------------------------------- bad bytes
def test_a_few_binary_lines_in_a_txt_are_rejected_with_their_line_numbers(tmp_path):
    f = tmp_path / "a.txt"
    good = [f"good sentence number {i}".encode() for i in range(10)]
    lines = good[:3] + [b"bad \x00 nul line"] + good[3:8] + [b"\xff\x01\x02\x03\xfe"] + good[8:]
    f.write_bytes(b"\n".join(lines) + b"\n")
    recs = read(f)
    assert len(recs) == 12
    assert [(r.line, r.reason) for r in recs if r.reason] == [(4, "binary"), (10, "binary")]
    assert recs[3].text == "bad \\x00 nul line"  # readable in the rejects file
    assert [r.text for r in recs if not r.reason] == [g.decode() for g in good]


def test_a_nul_byte_in_one_csv_row_rejects_that_row_only(tmp_path):
    f = tmp_path / "reviews.csv"
    rows = [f"{i},review number {i} is fine" for i in range(1, 41)]
    rows[29] = "30,review \x00 thirty"  # line 31 (the header is line 1)
    f.write_bytes(("id,text\n" + "\n".join(rows) + "\n").encode())
    recs = read(f)
    assert len(recs) == 40
    assert [(r.line, r.reason) for r in recs if r.reason] == [(31, "binary")]
    assert "thirty" in recs[29].text and recs[30].text == "review number 31 is fine"
    res = ingest(files_cfg(paths=["reviews.csv"]), 0, tmp_path)
    m = res.metrics
    assert m["rejected"]["binary"] == 1
    assert m["lines_read"] == 40 == m["kept"]["total"] + m["rejected"]["total"]
    assert [(r.file, r.line, r.reason) for r in res.rejects] == [("reviews.csv", 31, "binary")]


def test_csv_after_a_quoted_field_that_spans_lines(tmp_path):
    # physical lines: 1 header, 2-4 a three-line quoted field (with an escaped quote), 5 a
    # field with a quote in its middle (literal), 6 a NUL row, 7 an empty text, 8-9 a two-line
    # field with "" inside, 10 the last row
    f = tmp_path / "reviews.csv"
    f.write_bytes(b'id,text\n'
                  b'1,"first line\nsecond, with ""quotes""\nthird"\n'
                  b'2,a 5" screen is small\n'
                  b'3,review \x00 with a nul\n'
                  b'4,\n'
                  b'5,"one\n""two"""\n'
                  b'6,the last review\n')
    recs = read(f)
    assert [(r.line, r.reason) for r in recs] == [
        (2, None), (5, None), (6, "binary"), (7, None), (8, None), (10, None)]
    assert recs[0].text == 'first line\nsecond, with "quotes"\nthird'
    assert recs[1].text == 'a 5" screen is small'
    assert recs[2].text == "3,review \\x00 with a nul"  # the row's bytes, not an empty cell
    assert recs[3].text == "" and recs[4].text == 'one\n"two"'
    res = ingest(files_cfg(paths=["reviews.csv"], valid_fraction=0.2, test_fraction=0.2), 0,
                 tmp_path)
    assert [(r.line, r.reason) for r in res.rejects] == [(6, "binary"), (7, "empty")]
    assert res.metrics["lines_read"] == 6 == res.metrics["kept"]["total"] + 2


def test_a_binary_line_in_jsonl(tmp_path):
    f = tmp_path / "a.jsonl"
    f.write_bytes(b'{"text": "one fine line"}\n\x00\x00garbage\n{"text": "two fine lines"}\n')
    assert [(r.line, r.reason) for r in read(f)] == [(1, None), (2, "binary"), (3, None)]


@pytest.mark.parametrize("content, message", [
    (gzip.compress(b"a line\n" * 200, mtime=0), "gzip"),
    ("text\nhello there\nanother line\n".encode("utf-16-le"), "UTF-16"),  # no BOM
    ("text\nhello\n".encode("utf-16"), "UTF-16"),                          # with BOM
    (bytes(range(256)) * 8, "looks like a binary file"),
], ids=["gzip", "utf16-no-bom", "utf16-bom", "binary"])  # stable ids: xdist workers must agree
def test_mostly_binary_files_are_still_refused(tmp_path, content, message):
    f = tmp_path / "a.txt"
    f.write_bytes(content)
    with pytest.raises(DataError, match=message):
        read(f)


# ----------------------------------------------------------------------------- line endings
def test_old_mac_cr_only_and_mixed_line_endings(tmp_path):
    f = tmp_path / "mac.txt"
    f.write_bytes(b"first caption here\rsecond caption here\rthird one\r")
    assert [(r.line, r.text) for r in read(f)] == [
        (1, "first caption here"), (2, "second caption here"), (3, "third one")]
    f.write_bytes(b"a b\r\nc d\re f\ng h")  # what an editor shows: 4 lines
    assert [r.text for r in read(f)] == ["a b", "c d", "e f", "g h"]
    c = tmp_path / "mac.csv"
    c.write_bytes(b"id,text\r1,one caption\r2,two captions\r")
    assert [(r.line, r.text) for r in read(c)] == [(2, "one caption"), (3, "two captions")]
    j = tmp_path / "mac.jsonl"
    j.write_bytes(b'{"text": "one"}\r{"text": "two"}\r')
    assert [(r.line, r.text, r.reason) for r in read(j)] == [(1, "one", None), (2, "two", None)]


# ----------------------------------------------------------------------------- JSONL
def test_jsonl_lone_surrogate_deep_nesting_and_huge_int_are_rejects(tmp_path):
    f = tmp_path / "a.jsonl"
    f.write_bytes(b'{"text": "bad \\ud800 here"}\n'
                  + b"[" * 200_000 + b"]" * 200_000 + b"\n"
                  + b'{"text": "a fine sentence", "n": ' + b"7" * 5000 + b"}\n"
                  + b'{"text": "the last fine sentence"}\n')
    recs = read(f)
    assert [(r.line, r.reason) for r in recs] == [
        (1, "undecodable"), (2, "malformed"), (3, "malformed"), (4, None)]
    assert recs[0].text == '{"text": "bad \\ud800 here"}'  # the raw line: valid UTF-8


def test_lone_surrogate_ingest_writes_everything(tmp_path):
    (tmp_path / "a.jsonl").write_bytes(b'{"text": "\\udc00 x"}\n{"text": "short"}\n'
                                       + b"".join(b'{"text": "sentence %d is fine"}\n' % i
                                                  for i in range(20)))
    res = ingest(files_cfg(paths=["a.jsonl"], min_tokens=2), 0, tmp_path)
    paths = repo_paths(tmp_path)
    write_outputs(res, paths)
    rejects = [json.loads(x) for x in read_lines(paths.rejects)]
    assert [(r["line"], r["reason"]) for r in rejects] == [(1, "undecodable"), (2, "too_short")]


def test_unencodable_text_fails_before_any_output_is_written(tmp_path):
    paths = repo_paths(tmp_path)
    res = IngestResult(splits={"train": ["fine"], "valid": ["fine too"], "test": ["bad \ud800"]},
                       rejects=[], metrics={})
    with pytest.raises(UnicodeEncodeError):
        write_outputs(res, paths)
    assert not paths.split_text("train").exists() and not paths.rejects.exists()


# ----------------------------------------------------------------------------- invisible text
def test_lines_of_only_invisible_or_control_characters_are_empty(tmp_path):
    (tmp_path / "a.txt").write_text(
        "a real sentence\n"
        "\u200b\u2060\n"          # zero-width space, word joiner
        "\ufeff\u00ad\u200b\n"    # BOM, soft hyphen
        "\x01\x02\x1b\n"          # control characters
        "the coffee\ufeff is ho\u00adt\n"
        "caf\u00e9 \u200dis fine\n", encoding="utf-8")
    # one sentence per split (an empty held-out split is refused: see test_degenerate_corpora)
    res = ingest(files_cfg(paths=["a.txt"], valid_fraction=0.34, test_fraction=0.34), 0, tmp_path)
    assert [(r.line, r.reason) for r in res.rejects] == [(2, "empty"), (3, "empty"), (4, "empty")]
    kept = sorted(s for split in res.splits.values() for s in split)
    assert kept == ["a real sentence", "café is fine", "the coffee is hot"]
    assert not any(c in s for s in kept for c in "\ufeff\u200b\u00ad\u200d")


# ----------------------------------------------------------------------------- file names
def test_an_existing_file_with_glob_characters_is_read_literally(tmp_path):
    (tmp_path / "reviews [2024].txt").write_text("x\n", encoding="utf-8")
    files = resolve_inputs(["reviews [2024].txt"], tmp_path, "paths")
    assert [f.display for f in files] == ["reviews [2024].txt"]
    (tmp_path / "reviews 2.txt").write_text("x\n", encoding="utf-8")
    assert [f.display for f in resolve_inputs(["reviews [2].txt"], tmp_path, "paths")] == [
        "reviews 2.txt"]  # no such literal file: still a glob


# ----------------------------------------------------------------------------- config
@pytest.mark.parametrize("kernel_sizes", [[0], [], [-3], [2, 0]])
def test_discriminator_kernel_sizes_are_validated(kernel_sizes):
    with pytest.raises(ConfigError, match=r"model\.discriminator\.kernel_sizes"):
        params_from_dict({"model": {"discriminator": {"kernel_sizes": kernel_sizes}}})


def test_seed_must_fit_numpy():
    with pytest.raises(ConfigError, match=r"'seed': got 4294967296, expected a value <= 4294967295"):
        params_from_dict({"seed": 4294967296})
    assert params_from_dict({"seed": 2**32 - 1}).seed == 2**32 - 1


@pytest.mark.parametrize("text, message", [
    ("seed: 0\ningest:\n  dedupe: true\n  dedupe: false\n",
     r"params key 'dedupe' appears twice \(lines 3 and 4\)"),
    ("seed: 1\nseed: 2\n", r"'seed' appears twice"),
    ("", "the params file is empty"),
    ("# nothing but a comment\n", "the params file is empty"),
])
def test_params_file_with_duplicate_keys_or_empty_is_refused(tmp_path, text, message):
    f = tmp_path / "params.yaml"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_params(f)


def test_stage_entry_point_refuses_duplicate_keys(tmp_path):
    params = (REPO / "params.yaml").read_text(encoding="utf-8")
    (tmp_path / "params.yaml").write_text(params + "seed: 1\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "src")])}
    p = subprocess.run([sys.executable, "-m", "stages.ingest"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 1, p.stderr
    assert "error:" in p.stderr and "'seed' appears twice" in p.stderr
    assert "Traceback" not in p.stderr
    assert not (tmp_path / "data" / "interim").exists()


# ----------------------------------------------------------------------------- damaged outputs
def _tokenized(tmp_path):
    from gantext.config import TokenizeConfig
    from gantext.text.prepare import tokenize_splits, write_tokenized

    paths = repo_paths(tmp_path)
    texts = {"train": ["a b c", "b c d"], "valid": ["a b"], "test": ["c d"]}
    write_tokenized(tokenize_splits(texts, TokenizeConfig(max_len=4)), paths)
    return paths


def test_truncated_vocab_json_is_a_clear_error(tmp_path):
    from gantext.data import load_corpus

    paths = _tokenized(tmp_path)
    assert len(load_corpus(paths).vocab) == 8
    data = paths.vocab.read_bytes()
    paths.vocab.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=rf"{paths.vocab}: not a valid vocabulary.*tokenize"):
        load_corpus(paths)
    paths.vocab.write_text('{"itos": ["<pad>", "<bos>", "<eos>", "<unk>", 3]}', encoding="utf-8")
    with pytest.raises(DataError, match="not a valid vocabulary"):
        load_corpus(paths)


@pytest.mark.parametrize("bad", ["object", "float", "truncated", "out_of_vocab"])
def test_damaged_encoded_split_is_a_clear_error(tmp_path, bad):
    from gantext.data import load_corpus

    paths = _tokenized(tmp_path)
    f = paths.encoded("valid")
    if bad == "object":
        np.save(f, np.array([["a", 1]], dtype=object), allow_pickle=True)
    elif bad == "float":
        np.save(f, np.zeros((2, 5), dtype=np.float32))
    elif bad == "truncated":
        f.write_bytes(f.read_bytes()[:-7])
    else:
        np.save(f, np.full((2, 5), 99, dtype=np.int32))
    with pytest.raises(DataError, match=rf"{f}: .*dvc repro -f tokenize"):
        load_corpus(paths)


FULL_DISK = textwrap.dedent("""
    import resource, signal, sys
    import torch
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)      # writes past the limit fail with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
    from gantext.errors import GantextError
    from gantext.training.checkpoint import save_checkpoint
    try:
        save_checkpoint(sys.argv[1], kind="generator", state_dict={"w": torch.zeros(50000)},
                        spec={}, vocab_hash="x")
    except GantextError as exc:
        print("GANTEXT", exc)
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_FSIZE semantics")
def test_a_full_disk_names_the_file_and_says_so(tmp_path):
    target = tmp_path / "models" / "generator.pt"
    p = subprocess.run([sys.executable, "-c", FULL_DISK, str(target)], capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("GANTEXT"), p.stdout + p.stderr
    assert str(target) in p.stdout and "disk is full" in p.stdout
    assert not target.exists() and list(target.parent.iterdir()) == []  # no temp file left


# ----------------------------------------------------------------------------- special files
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this platform")
def test_a_named_pipe_is_not_a_regular_file_rather_than_not_found(tmp_path):
    os.mkfifo(tmp_path / "corpus.txt")
    with pytest.raises(DataError, match=r"ingest.paths: 'corpus.txt' is not a regular file "
                                        r"\(a named pipe \(FIFO\)\)") as info:
        resolve_inputs(["corpus.txt"], tmp_path, "paths")
    assert "not found" not in str(info.value)


# ----------------------------------------------------------------------------- degenerate corpora
def _lines(tmp_path, lines):
    (tmp_path / "c.txt").write_text("".join(f"{x}\n" for x in lines), encoding="utf-8")


def test_degenerate_corpora_fail_at_ingest_not_after_pretraining(tmp_path):
    # all-identical lines: by default every train copy is also held out; the message says why
    _lines(tmp_path, ["the cat sat on the mat"] * 200)
    with pytest.raises(DataError, match=r"no train sentence left.*200 kept lines hold only 1 "
                                        r"distinct") as info:
        ingest(files_cfg(paths=["c.txt"]), 0, tmp_path)
    assert "test_paths" not in str(info.value)  # none are set: the old hint asked about them
    with pytest.raises(DataError, match=r"the train split is one sentence repeated 160 times "
                                        r"\('the cat sat on the mat'\)"):
        ingest(files_cfg(paths=["c.txt"], leakage="keep"), 0, tmp_path)
    # a split with no sentences (pretrain needs valid, evaluate test)
    _lines(tmp_path, [f"sentence number {i} here" for i in range(100)])
    with pytest.raises(DataError, match=r"the valid split is empty \(100 sentences.*"
                                        r"raise ingest.valid_fraction"):
        ingest(files_cfg(paths=["c.txt"], valid_fraction=0.0), 0, tmp_path)
    with pytest.raises(DataError, match=r"the test split is empty.*ingest.test_paths"):
        ingest(files_cfg(paths=["c.txt"], test_fraction=0.004), 0, tmp_path)  # rounds to 0
    ingest(files_cfg(paths=["c.txt"]), 0, tmp_path)  # the same corpus with usable splits


@pytest.mark.parametrize("train, cfg, shown", [
    (["hello", "hello hello", "hello hello hello"], {}, "only 'hello'"),
    (["a b", "c d", "e f"], {"min_freq": 2}, "none"),
], ids=["one-word", "min-freq-leaves-none"])
def test_a_vocabulary_of_fewer_than_two_words_fails_at_tokenize(train, cfg, shown):
    from gantext.config import TokenizeConfig
    from gantext.text.prepare import tokenize_splits

    with pytest.raises(DataError, match=rf"the vocabulary .* holds {shown} besides the specials"):
        tokenize_splits({"train": train, "valid": train[:1], "test": train[:1]},
                        TokenizeConfig(**cfg))
