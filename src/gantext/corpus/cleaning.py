"""Cleaning: Unicode NFKC, invisible/control characters, whitespace, lower-casing, length, dedupe.

A kept sentence is written as its nltk word tokens joined by single spaces, chosen as a fixed
point of the tokenizer (:mod:`gantext.text.tokenizer`): ``word_tokens(" ".join(toks)) == toks``.
So the tokenize stage reads exactly the tokens counted here.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Iterable

from gantext.corpus.readers import BINARY, EMPTY, MALFORMED, UNDECODABLE, Record
from gantext.progress import progress
from gantext.text.tokenizer import tokenize

__all__ = ["REASONS", "Kept", "Reject", "clean_records", "normalize", "word_tokens"]

TOO_SHORT = "too_short"
TOO_LONG = "too_long"
DUPLICATE = "duplicate"
IN_TEST = "in_test"    # a train sentence that is also in the test split (see corpus/leakage.py)
IN_VALID = "in_valid"  # ... also in the valid split
# Every reason a line can be rejected for (metrics list all of them, zeros included).
REASONS = (EMPTY, TOO_SHORT, TOO_LONG, UNDECODABLE, BINARY, DUPLICATE, MALFORMED, IN_TEST,
           IN_VALID)

# Zero-width joiner/non-joiner carry meaning between two characters (Persian, Indic scripts,
# emoji sequences); anywhere else, like every other format character, they are invisible noise.
_JOINERS = "\u200c\u200d"
_STRAY_JOINERS = re.compile(f"(?<!\\S)[{_JOINERS}]+|[{_JOINERS}]+(?!\\S)")


def _visible(ch: str) -> str:
    """Control characters separate words (a tab does; so does a stray \\x01); format characters
    (ZWSP, word joiner, BOM, soft hyphen, bidi marks) are invisible and vanish."""
    cat = unicodedata.category(ch)
    if cat == "Cc":
        return " "
    if cat == "Cf" and ch not in _JOINERS:
        return ""
    return ch


@dataclass(frozen=True)
class Kept:
    file: str
    line: int
    sentence: str  # tokens joined by single spaces
    raw: str | None = None  # the input line (for the rejects file if a later rule drops it)


@dataclass(frozen=True)
class Reject:
    file: str
    line: int
    reason: str
    text: str  # the raw line, as well as it could be decoded

    def as_json(self) -> dict:
        return {"file": self.file, "line": self.line, "reason": self.reason, "text": self.text}


def normalize(text: str, lowercase: bool) -> str:
    """NFKC; control characters -> space, invisible format characters (ZWSP, BOM, soft hyphen,
    ...) removed; every run of (Unicode) whitespace -> one space, stripped; optionally
    lower-cased. A line of nothing but such characters normalizes to "" (rejected as empty)."""
    text = unicodedata.normalize("NFKC", text)
    if not text.isprintable():  # the common case (plain text) skips the per-character pass
        text = "".join(_visible(ch) for ch in text)
    text = " ".join(_STRAY_JOINERS.sub("", text).split())
    return text.lower() if lowercase else text


def word_tokens(text: str) -> list[str]:
    """The tokenize stage's word tokenizer (one implementation: what ingest counts and writes is
    exactly what tokenize reads back)."""
    return tokenize(text, "word")


def clean_records(records: Iterable[Record], *, lowercase: bool, min_tokens: int,
                  max_tokens: int, dedupe: bool, seen: set[str] | None = None,
                  desc: str = "cleaning") -> tuple[list[Kept], list[Reject]]:
    """Split records into kept sentences and rejects (every record lands in exactly one list).

    `seen` carries the dedupe memory across calls (e.g. from the test corpus to the train one).
    """
    kept: list[Kept] = []
    rejects: list[Reject] = []
    seen = set() if seen is None else seen
    for rec in progress(records, desc=desc, unit="line", leave=False):
        if rec.reason is not None:
            rejects.append(Reject(rec.file, rec.line, rec.reason, rec.text))
            continue
        text = normalize(rec.text, lowercase)
        toks = word_tokens(text) if text else []
        reason = None
        if not toks:
            reason = EMPTY
        elif len(toks) < min_tokens:
            reason = TOO_SHORT
        elif len(toks) > max_tokens:
            reason = TOO_LONG
        sentence = " ".join(toks)
        if reason is None and dedupe:
            if sentence in seen:
                reason = DUPLICATE
            else:
                seen.add(sentence)
        if reason is None:
            kept.append(Kept(rec.file, rec.line, sentence, rec.text))
        else:
            rejects.append(Reject(rec.file, rec.line, reason, rec.text))
    return kept, rejects
