"""Corpus readers: files or globs -> one :class:`Record` per input line (or table row).

Every line a reader sees becomes exactly one record, so the ingest stage can account for all of
them (kept or rejected with a reason). A line that cannot be decoded as UTF-8 is a record with
reason ``undecodable`` -- never a crash; problems with a whole file (missing, binary, unknown
extension, no text column) raise :class:`DataError` naming the file and what to do.

Formats (by extension):

* ``.txt``: a line is a sentence. Files are read as bytes and decoded line by line; the last line
  needs no trailing newline; ``\\n``, ``\\r\\n`` and old-Mac ``\\r`` endings and a UTF-8
  byte-order mark are accepted.
* ``.csv`` / ``.tsv``: pandas, header row required, text in ``text_column``. The record's line is
  the physical line it starts on (the header is line 1; a quoted field may span lines). Blank
  rows are kept (and rejected as ``empty``), TSV fields are not quoted.
* ``.jsonl`` (or ``.ndjson``): one JSON object a line, text under ``text_column``; a line that is
  not a JSON object, or whose text is not a string, is rejected as ``malformed``.
* ``.parquet``: pandas/pyarrow, text in ``text_column``.

In the text formats a line holding NUL (or control bytes in non-UTF-8) is a ``binary`` record;
a file that is mostly binary is refused (:mod:`gantext.corpus.textbytes`). A JSON value with a
lone surrogate (``"\\ud800"``, not encodable as UTF-8) is ``undecodable``; a line JSON cannot
parse within limits (200k-deep nesting, a 5,000-digit number) is ``malformed``.
"""

from __future__ import annotations

import bisect
import csv
import glob
import io
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from gantext.corpus.textbytes import TextBytes, render, text_bytes
from gantext.errors import DataError

__all__ = ["FORMATS", "InputFile", "Record", "read_file", "resolve_inputs"]

FORMATS = {".txt": "txt", ".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
           ".parquet": "parquet"}

# Reasons a reader itself can give (cleaning adds empty/too_short/too_long/duplicate).
UNDECODABLE = "undecodable"
MALFORMED = "malformed"
EMPTY = "empty"
BINARY = "binary"


@dataclass(frozen=True)
class Record:
    """One input line. `reason` is set when the reader already knows it cannot be used; `text`
    is then the best-effort decoding of the raw bytes (for the rejects file)."""

    file: str
    line: int
    text: str
    reason: str | None = None


@dataclass(frozen=True)
class InputFile:
    """A resolved input file: `display` is the path relative to the repository root (stable
    across machines; used in rejects and metrics), `role` is 'paths' or 'test_paths'."""

    path: Path
    display: str
    role: str


def _display(path: Path, root: Path) -> str:
    return Path(os.path.relpath(path, root)).as_posix()


def resolve_inputs(patterns: Sequence[str], root: Path, role: str) -> list[InputFile]:
    """Expand files and globs (relative to `root`) into existing files, in a stable order.

    Raises DataError for a missing file, a glob that matches no file, a directory, or an
    unknown extension.
    """
    out: list[InputFile] = []
    seen: set[Path] = set()
    key = f"ingest.{role}"
    for pattern in patterns:
        full = os.path.join(root, pattern)
        # An existing file whose name holds glob characters ('reviews [2024].txt') is that file.
        if glob.has_magic(pattern) and not Path(full).is_file():
            matches = [Path(m) for m in sorted(glob.glob(full, recursive=True)) if Path(m).is_file()]
            if not matches:
                raise DataError(f"{key}: the glob '{pattern}' matches no file (relative to "
                                f"{root}); fix the pattern or add the corpus files (a file name "
                                "with [ ] * ? is read literally only when that file exists)")
        else:
            p = Path(full)
            if p.is_dir():
                raise DataError(f"{key}: '{pattern}' is a directory; list its files or use a glob "
                                f"such as '{pattern.rstrip('/')}/*.txt'")
            if p.exists() and not p.is_file():  # reading a FIFO would block until a writer came
                raise DataError(f"{key}: '{pattern}' is not a regular file ({_kind(p)}); ingest "
                                "reads files (DVC hashes them): write the corpus to a file and "
                                "list that")
            if not p.is_file():
                raise DataError(f"{key}: file '{pattern}' not found (paths are relative to the "
                                f"repository root {root}); fix the path or add the file")
            matches = [p]
        for m in matches:
            resolved = m.resolve()
            if resolved in seen:
                continue
            seen.add(resolved)
            if m.suffix.lower() not in FORMATS:
                raise DataError(f"{_display(m, root)}: unknown extension '{m.suffix}' (from "
                                f"{key}); supported: {', '.join(sorted(FORMATS))}. Rename or "
                                "convert the file")
            out.append(InputFile(path=m, display=_display(m, root), role=role))
    return out


# ----------------------------------------------------------------------------- helpers
def _kind(path: Path) -> str:
    """What a path that exists but is not a regular file or a folder is, in words."""
    mode = path.stat().st_mode
    for test, word in ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return word
    return "not a regular file"


def _text_bytes(path: Path, name: str) -> TextBytes:
    return text_bytes(path.read_bytes(), name)


def _decode(raw: bytes) -> tuple[str, bool]:
    """(text, ok): strict UTF-8, or a readable rendering with \\xNN escapes when it fails."""
    try:
        return raw.decode("utf-8"), True
    except UnicodeDecodeError:
        return raw.decode("utf-8", errors="backslashreplace"), False


def _has_surrogates(s: str) -> bool:
    return any("\ud800" <= ch <= "\udfff" for ch in s)


def _unsurrogate(s: str) -> str:
    """A readable rendering of a string holding surrogates: pandas' surrogateescape bytes back
    to \\xNN, other (lone, from JSON escapes) surrogates as \\udNNN."""
    try:
        return s.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return s.encode("utf-8", "backslashreplace").decode("utf-8")


def _cell(value: Any, name: str, line: int) -> Record:
    """A table cell -> Record (None/NaN -> empty, bytes decoded, other non-strings malformed)."""
    if value is None or (isinstance(value, float) and value != value):
        return Record(name, line, "", EMPTY)
    if isinstance(value, bytes):
        text, ok = _decode(value)
        return Record(name, line, text, None if ok else UNDECODABLE)
    if isinstance(value, str):
        if _has_surrogates(value):  # pandas read the bytes with surrogateescape
            return Record(name, line, _unsurrogate(value), UNDECODABLE)
        return Record(name, line, value)
    return Record(name, line, repr(value), MALFORMED)


def _missing_column(name: str, column: str, found: Sequence[str]) -> DataError:
    shown = ", ".join(repr(c) for c in found) if found else "none"
    return DataError(f"{name}: no text column '{column}'; columns found: {shown}. Set "
                     "ingest.text_column to the column holding the sentences")


# ----------------------------------------------------------------------------- readers
def _read_txt(path: Path, name: str, column: str) -> list[Record]:
    tb = _text_bytes(path, name)
    out = []
    for i, raw in enumerate(tb.lines, start=1):
        if i - 1 in tb.binary:
            out.append(Record(name, i, render(raw), BINARY))
            continue
        text, ok = _decode(raw)
        out.append(Record(name, i, text, None if ok else UNDECODABLE))
    return out


def _record_starts(lines: Sequence[bytes], sep: bytes, quoted: bool) -> list[int]:
    """0-based index in `lines` of the first physical line of every CSV/TSV record (the header
    included), as pandas' C parser splits records: a quote opens a quoted field only at the start
    of a field, ``""`` inside one is a literal quote, and a line ending inside one continues
    the record (TSV: no quoting, a record per line). Blank lines are records (kept as rows)."""
    starts: list[int] = []
    in_quotes = False
    for i, line in enumerate(lines):
        if not in_quotes:
            starts.append(i)
            if not quoted or b'"' not in line:  # the common case: one line, one record
                continue
        j, n = 0, len(line)
        at_field_start = not in_quotes
        while j < n:
            c = line[j:j + 1]
            if in_quotes:
                if c == b'"':
                    if line[j + 1:j + 2] == b'"':  # an escaped quote
                        j += 1
                    else:
                        in_quotes = False
            elif c == b'"' and at_field_start:
                in_quotes = True
            at_field_start = c == sep and not in_quotes
            j += 1
    return starts


def _read_table(path: Path, name: str, column: str, sep: str) -> list[Record]:
    import pandas as pd

    data = path.read_bytes()
    tb = text_bytes(data, name)
    data = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    if tb.binary:  # parse without them (blank rows keep the row count), then mark their rows
        data = b"\n".join(b"" if i in tb.binary else raw for i, raw in enumerate(tb.lines))
    if not data.strip():
        raise _missing_column(name, column, [])
    quoted = sep != "\t"
    try:
        # dtype=object keeps undecodable bytes as surrogates (arrow strings would refuse them);
        # no NA parsing ("NA", "null" are text here); blank rows stay rows (accounted, not lost).
        df = pd.read_csv(io.BytesIO(data), sep=sep, dtype=object, keep_default_na=False,
                         na_filter=False, skip_blank_lines=False, encoding="utf-8",
                         encoding_errors="surrogateescape",
                         quoting=csv.QUOTE_MINIMAL if quoted else csv.QUOTE_NONE)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise DataError(f"{name}: cannot parse as {'TSV' if sep == chr(9) else 'CSV'}: "
                        f"{str(exc).strip()}. Fix the file or convert it to .txt / .jsonl") from None
    if column not in df.columns:
        raise _missing_column(name, column, [str(c) for c in df.columns])
    # Each record's physical line, so a quoted field spanning lines shifts nothing after it.
    lines = [b"" if i in tb.binary else raw for i, raw in enumerate(tb.lines)]
    starts = _record_starts(lines, sep.encode(), quoted)
    if len(starts) != len(df) + 1:  # never seen; numbering by row then (off after a multi-line field)
        starts = list(range(len(df) + 1))
    out = [_cell(v, name, starts[j] + 1) for j, v in enumerate(df[column].tolist(), start=1)]
    # a binary line was blanked before parsing: its record shows the bytes, labelled binary
    for i in sorted(tb.binary):
        r = bisect.bisect_right(starts, i) - 1
        if r >= 1:  # not the header
            out[r - 1] = Record(name, starts[r] + 1, render(tb.lines[i]), BINARY)
    return out


def _read_csv(path: Path, name: str, column: str) -> list[Record]:
    return _read_table(path, name, column, ",")


def _read_tsv(path: Path, name: str, column: str) -> list[Record]:
    return _read_table(path, name, column, "\t")


def _read_jsonl(path: Path, name: str, column: str) -> list[Record]:
    tb = _text_bytes(path, name)
    out: list[Record] = []
    keys: set[str] = set()
    has_column = False
    for i, raw in enumerate(tb.lines, start=1):
        if i - 1 in tb.binary:
            out.append(Record(name, i, render(raw), BINARY))
            continue
        text, ok = _decode(raw)
        if not ok:
            out.append(Record(name, i, text, UNDECODABLE))
            continue
        if not text.strip():
            out.append(Record(name, i, text, EMPTY))
            continue
        try:
            obj = json.loads(text)
        except (ValueError, RecursionError):  # bad JSON, a >4300-digit int, nesting too deep
            out.append(Record(name, i, text, MALFORMED))
            continue
        if not isinstance(obj, dict):
            out.append(Record(name, i, text, MALFORMED))
            continue
        keys.update(obj)
        if column not in obj:
            out.append(Record(name, i, text, MALFORMED))
            continue
        has_column = True
        rec = _cell(obj[column], name, i)
        # keep the whole line (escapes intact, so it is valid UTF-8) for a malformed value or
        # one with a lone surrogate, so the rejects file shows what was there
        out.append(Record(name, i, text, rec.reason) if rec.reason in (MALFORMED, UNDECODABLE)
                   else rec)
    if out and keys and not has_column:
        raise _missing_column(name, column, sorted(keys))
    return out


def _read_parquet(path: Path, name: str, column: str) -> list[Record]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for non-parquet input
        raise DataError(f"{name}: cannot read as parquet ({type(exc).__name__}: {exc}). Is it a "
                        "parquet file? Fix the file or its extension") from None
    if column not in table.column_names:
        raise _missing_column(name, column, table.column_names)
    return [_cell(v, name, i) for i, v in enumerate(table.column(column).to_pylist(), start=1)]


_READERS = {"txt": _read_txt, "csv": _read_csv, "tsv": _read_tsv, "jsonl": _read_jsonl,
            "parquet": _read_parquet}


def read_file(f: InputFile, text_column: str) -> list[Record]:
    """All records of one input file (see the module docstring for each format)."""
    fmt = FORMATS[f.path.suffix.lower()]
    try:
        return _READERS[fmt](f.path, f.display, text_column)
    except PermissionError:
        raise DataError(f"{f.display}: permission denied; make the file readable") from None
    except IsADirectoryError:
        raise DataError(f"{f.display}: is a directory; list files, not folders") from None
