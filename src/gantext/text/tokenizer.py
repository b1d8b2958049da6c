"""Tokenization that needs no downloaded data: nltk's Treebank-style word tokenizer, or characters.

Contract (what ingest, tokenize and evaluate rely on):

- ``tokenize(" ".join(tokenize(t, level)), level) == tokenize(t, level)`` for word level, and
  ``tokenize("".join(tokenize(t, "char")), "char") == tokenize(t, "char")``: tokenizing is
  idempotent, so text that ingest already wrote as space-joined tokens comes back unchanged and
  :meth:`gantext.text.vocab.Vocab.decode` output re-tokenizes to the same tokens.
- Word level: :class:`nltk.tokenize.NLTKWordTokenizer` on the whole line (a line is one sentence;
  punkt sentence splitting would need downloaded data). Its directional quotes (````` and
  ``''``) are folded into a plain ``"`` token: the Treebank rules re-read a space-separated
  closing ``''`` as an opening quote, which would break idempotence, and ``"`` reads better in
  decoded samples.
- Char level: whitespace is collapsed to single spaces, which stay tokens (``" "``), so
  ``"".join(tokens)`` (what ``Vocab.decode`` does for char level) restores the text exactly.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:
    from nltk.tokenize import NLTKWordTokenizer

__all__ = ["LEVELS", "tokenize", "tokenize_lines", "detokenize"]

LEVELS = ("word", "char")
_QUOTES = frozenset(("``", "''"))
_MAX_PASSES = 8  # fixpoints are reached in <= 3 passes on fuzzed punctuation soup


@lru_cache(maxsize=1)
def _word_tokenizer() -> "NLTKWordTokenizer":
    # One shared instance: construction compiles the Treebank regexes. Imported here, not at the
    # top: `import nltk` loads scipy.stats and half of nltk (~2 s of CPU), and every stage imports
    # this module (through gantext.data) while only ingest, tokenize and evaluate tokenize.
    from nltk.tokenize import NLTKWordTokenizer

    return NLTKWordTokenizer()


def _check_level(level: str) -> None:
    if level not in LEVELS:
        raise ValueError(f"unknown tokenize level {level!r}; valid levels: {', '.join(LEVELS)}")


def _words(text: str, tok) -> list[str]:
    """Treebank tokens of one line, iterated to a fixpoint so that re-tokenizing is a no-op.

    The Treebank rules are not idempotent on odd punctuation (``coffee,,and`` -> ``,`` ``,and``
    -> ``,`` ``,`` ``and``), so the space-joined tokens are tokenized again until they stop
    changing. Already-tokenized input (what ingest writes) is recognised after one pass because
    joining its tokens gives the input back; raw text usually needs two.
    """
    cur = " ".join(text.split())
    toks: list[str] = []
    for _ in range(_MAX_PASSES):
        if not cur:
            return []
        toks = ['"' if t in _QUOTES else t for t in tok(cur)]
        joined = " ".join(toks)
        if joined == cur:
            break
        cur = joined
    return toks


def tokenize(text: str, level: str = "word") -> list[str]:
    """One sentence -> tokens (``level``: ``word`` or ``char``)."""
    _check_level(level)
    if level == "char":
        return list(" ".join(text.split()))
    return _words(text, _word_tokenizer().tokenize)


def tokenize_lines(lines: Iterable[str], level: str = "word") -> list[list[str]]:
    """Many sentences (one per line) -> token lists, in order."""
    _check_level(level)
    if level == "char":
        return [list(" ".join(line.split())) for line in lines]
    tok = _word_tokenizer().tokenize
    return [_words(line, tok) for line in lines]


def detokenize(tokens: Iterable[str], level: str = "word") -> str:
    """Tokens -> one line of text that :func:`tokenize` maps back to the same tokens."""
    _check_level(level)
    return ("" if level == "char" else " ").join(tokens)
