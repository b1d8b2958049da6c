"""Corpus readers: every format, line numbers, per-line reasons, and whole-file errors."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from gantext.corpus.readers import InputFile, Record, read_file, resolve_inputs
from gantext.errors import DataError


def read(path: Path, column: str = "text") -> list[Record]:
    return read_file(InputFile(path=path, display=path.name, role="paths"), column)


def test_txt_lines_crlf_bom_no_final_newline_and_bad_bytes(tmp_path):
    f = tmp_path / "a.txt"
    f.write_bytes(b"\xef\xbb\xbffirst line\r\nsecond\n\nbad \xff\xfe here\nlast without newline")
    recs = read(f)
    assert [(r.line, r.text, r.reason) for r in recs] == [
        (1, "first line", None), (2, "second", None), (3, "", None),
        (4, "bad \\xff\\xfe here", "undecodable"), (5, "last without newline", None)]
    assert all(r.file == "a.txt" for r in recs)
    f.write_bytes(b"one\ntwo\n")  # a final newline does not start a third line
    assert [r.text for r in read(f)] == ["one", "two"]
    f.write_bytes(b"")
    assert read(f) == []


def test_csv_rows_blank_rows_na_text_and_bad_bytes(tmp_path):
    f = tmp_path / "a.csv"
    f.write_bytes(b'id,text\n1,"hello, world"\n2,NA\n\n3,bad \xff byte\n4,"two\nlines"\n5,\n')
    recs = read(f)
    assert [r.line for r in recs] == [2, 3, 4, 5, 6, 8]  # header is line 1; row 4 spans 6-7
    assert [r.text for r in recs][:2] == ["hello, world", "NA"]  # "NA" is text, not missing
    assert recs[2].text == "" and recs[2].reason is None  # blank row kept (cleaning rejects it)
    assert recs[3].reason == "undecodable" and recs[3].text == "bad \\xff byte"
    assert recs[4].text == "two\nlines"
    assert recs[5].text == ""


def test_tsv_does_not_treat_quotes_as_quoting(tmp_path):
    f = tmp_path / "a.tsv"
    f.write_text('label\ttext\npos\tshe said "great\npos\tclosing quote" here\n', encoding="utf-8")
    assert [r.text for r in read(f)] == ['she said "great', 'closing quote" here']


def test_jsonl_values_and_malformed_lines(tmp_path):
    f = tmp_path / "a.jsonl"
    f.write_bytes(b'{"text": "fine"}\n'
                  b'not json\n'
                  b'{"other": "no text key"}\n'
                  b'{"text": null}\n'
                  b'{"text": 42}\n'
                  b'["a", "list"]\n'
                  b'\n'
                  b'{"text": "caf\xe9"}\n'
                  b'{"text": "caf\xc3\xa9", "id": 3}')
    recs = read(f)
    assert [(r.line, r.reason) for r in recs] == [
        (1, None), (2, "malformed"), (3, "malformed"), (4, "empty"), (5, "malformed"),
        (6, "malformed"), (7, "empty"), (8, "undecodable"), (9, None)]
    assert recs[0].text == "fine" and recs[8].text == "café"
    assert recs[4].text == '{"text": 42}'  # the raw line is what the rejects file shows


def test_parquet(tmp_path):
    f = tmp_path / "a.parquet"
    pd.DataFrame({"id": [1, 2, 3], "sentence": ["a b c", None, "d e"]}).to_parquet(f)
    recs = read(f, "sentence")
    assert [(r.line, r.text, r.reason) for r in recs] == [
        (1, "a b c", None), (2, "", "empty"), (3, "d e", None)]


@pytest.mark.parametrize("name, content, found", [
    ("a.csv", b"id,sentence\n1,hello\n", "'id', 'sentence'"),
    ("a.tsv", b"id\tsentence\n1\thello\n", "'id', 'sentence'"),
    ("a.jsonl", b'{"sentence": "hello", "id": 1}\n', "'id', 'sentence'"),
    ("a.csv", b"", "none"),
])
def test_missing_text_column_lists_columns(tmp_path, name, content, found):
    f = tmp_path / name
    f.write_bytes(content)
    with pytest.raises(DataError, match=rf"{name}: no text column 'text'; columns found: {found}"):
        read(f)


def test_parquet_missing_column_and_not_parquet(tmp_path):
    f = tmp_path / "a.parquet"
    pd.DataFrame({"body": ["x"]}).to_parquet(f)
    with pytest.raises(DataError, match="columns found: 'body'"):
        read(f)
    f.write_bytes(b"definitely not parquet")
    with pytest.raises(DataError, match="a.parquet: cannot read as parquet"):
        read(f)


@pytest.mark.parametrize("name", ["a.txt", "a.csv", "a.jsonl"])
def test_binary_and_utf16_files_are_errors(tmp_path, name):
    f = tmp_path / name
    f.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    with pytest.raises(DataError, match=rf"{name}: looks like a binary file"):
        read(f)
    f.write_bytes("text\nhello\n".encode("utf-16"))
    with pytest.raises(DataError, match="UTF-16"):
        read(f)


def test_resolve_inputs_globs_order_and_dedupe(tmp_path):
    (tmp_path / "data").mkdir()
    for n in ("b.txt", "a.txt", "c.csv"):
        (tmp_path / "data" / n).write_text("x\n", encoding="utf-8")
    files = resolve_inputs(["data/*.txt", "data/a.txt", "data/c.csv"], tmp_path, "paths")
    assert [f.display for f in files] == ["data/a.txt", "data/b.txt", "data/c.csv"]
    outside = tmp_path / "repo"
    outside.mkdir()
    files = resolve_inputs(["../data/a.txt"], outside, "test_paths")
    assert files[0].display == "../data/a.txt" and files[0].role == "test_paths"


@pytest.mark.parametrize("pattern, message", [
    ("missing.txt", r"ingest.paths: file 'missing.txt' not found"),
    ("data/*.jsonl", r"ingest.paths: the glob 'data/\*.jsonl' matches no file"),
    ("data", r"ingest.paths: 'data' is a directory"),
    ("data/notes.docx", r"data/notes.docx: unknown extension '.docx'.*supported: .csv"),
])
def test_resolve_inputs_errors(tmp_path, pattern, message):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "notes.docx").write_bytes(b"PK")
    with pytest.raises(DataError, match=message):
        resolve_inputs([pattern], tmp_path, "paths")


def test_reject_record_is_json_serialisable(tmp_path):
    f = tmp_path / "a.txt"
    f.write_bytes(b"\xc3\x28 broken\n")
    (rec,) = read(f)
    assert json.loads(json.dumps({"text": rec.text}))["text"] == "\\xc3( broken"
