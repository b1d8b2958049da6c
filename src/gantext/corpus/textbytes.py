"""Raw bytes -> lines: line endings, binary lines inside text files, files that are not text.

A text corpus with a few corrupt lines (a NUL byte from a bad copy, a stray binary blob) keeps
its good lines: each bad one becomes a ``binary`` reject with its line number. Only a file that
is *mostly* binary, or announces a non-text format by its first bytes (gzip, zip, UTF-16, ...),
is refused as a whole, because then every "line" would be noise and the user has the wrong file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gantext.errors import DataError

__all__ = ["TextBytes", "render", "split_lines", "text_bytes"]

# Universal newlines, as Python's open() and every editor read them: \r\n, \n, or a lone \r
# (old Mac files; splitting only on \n read such a file as one giant line).
_NEWLINE = re.compile(rb"\r\n|\r|\n")
# C0 control bytes that never occur in text (tab, form feed, vertical tab and ESC can).
_CONTROL = re.compile(rb"[\x00-\x08\x0e-\x1a\x1c-\x1f]")

# First bytes of formats that are not text, with the hint shown to the user.
_MAGIC = (
    (b"\x1f\x8b", "gzip-compressed: decompress it first (`gunzip FILE`)"),
    (b"PK\x03\x04", "a zip archive: extract it first"),
    (b"BZh", "bzip2-compressed: decompress it first (`bunzip2 FILE`)"),
    (b"\xfd7zXZ\x00", "xz-compressed: decompress it first (`unxz FILE`)"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed: decompress it first (`unzstd FILE`)"),
    (b"7z\xbc\xaf\x27\x1c", "a 7z archive: extract it first"),
    (b"%PDF-", "a PDF: extract its text first"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"\x7fELF", "an executable"),
    (b"PAR1", "parquet: give it the .parquet extension"),
)
_UTF16_32 = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")


@dataclass(frozen=True)
class TextBytes:
    """A text file's lines (terminators removed, UTF-8 BOM dropped) and which are binary."""

    lines: list[bytes]
    binary: frozenset[int]  # 0-based indices into `lines`


def split_lines(data: bytes) -> list[bytes]:
    """Split on \\r\\n, \\n or a lone \\r; a final terminator does not start another line."""
    if not data:
        return []
    parts = _NEWLINE.split(data)
    if parts[-1] == b"":
        parts.pop()
    return parts


def _is_binary_line(raw: bytes) -> bool:
    """A NUL byte never occurs in text; control bytes in a line that is not UTF-8 either mean
    binary garbage (text in a legacy encoding has no control bytes: that is ``undecodable``)."""
    if b"\x00" in raw:
        return True
    if not _CONTROL.search(raw):
        return False
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def render(raw: bytes) -> str:
    """A readable one-line rendering of raw bytes for the rejects file (\\xNN escapes for bytes
    that are not UTF-8 and for control characters)."""
    text = raw.decode("utf-8", errors="backslashreplace")
    return "".join(c if c.isprintable() or c == "\t" else
                   (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}") for c in text)


def _refuse(name: str, why: str) -> DataError:
    return DataError(f"{name}: looks like a binary file ({why}); ingest reads UTF-8 text "
                     "(txt/csv/tsv/jsonl) or parquet. Remove it from ingest.paths or convert it "
                     "to text")


def text_bytes(data: bytes, name: str) -> TextBytes:
    """Lines of a UTF-8 text file, with its binary lines flagged; raises DataError for a file
    that is not text (a known binary format, UTF-16/32, or binary lines holding most of it)."""
    if data.startswith(_UTF16_32):
        raise DataError(f"{name}: looks like UTF-16 (or UTF-32) text; ingest reads UTF-8. Convert "
                        f"it, e.g. `iconv -f UTF-16 -t UTF-8 {name} > out.txt`")
    for magic, what in _MAGIC:
        if data.startswith(magic):
            raise _refuse(name, what)
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    lines = split_lines(data)
    binary = frozenset(i for i, raw in enumerate(lines) if _is_binary_line(raw))
    if binary:
        nuls = data.count(b"\x00")
        if nuls * 4 > len(data):  # text with a NUL after most characters: UTF-16/32, no BOM
            raise DataError(f"{name}: looks like UTF-16 (or UTF-32) text without a byte-order "
                            f"mark ({nuls} of {len(data)} bytes are NUL); ingest reads UTF-8. "
                            f"Convert it, e.g. `iconv -f UTF-16LE -t UTF-8 {name} > out.txt`")
        bad_bytes = sum(len(lines[i]) for i in binary)
        if 2 * len(binary) > len(lines) or 2 * bad_bytes > len(data):
            first = min(binary) + 1
            raise _refuse(name, f"{len(binary)} of {len(lines)} lines hold NUL or control "
                          f"bytes, {bad_bytes} of {len(data)} bytes; the first is line {first}")
    return TextBytes(lines=lines, binary=binary)
