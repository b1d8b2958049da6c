"""The tokenize stage's logic: text splits -> vocabulary (train only), fixed-length arrays, metrics."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from gantext.config import TokenizeConfig
from gantext.errors import DataError
from gantext.io import atomic_path, read_lines, write_json
from gantext.paths import Paths
from gantext.text.tokenizer import tokenize_lines
from gantext.text.vocab import SPECIALS, Vocab, encode

__all__ = ["SPLITS", "Tokenized", "auto_max_len", "read_splits", "resolve_max_len", "split_stats",
           "tokenize_splits", "truncation_warnings", "write_tokenized"]

SPLITS = ("train", "valid", "test")
#: ``tokenize.max_len: auto`` = this percentile of the train split's sentence lengths (rounded up),
AUTO_PERCENTILE = 99
#: ... at most this many times their median (rounded up): on a small corpus the percentile
#: interpolates towards one outlier (50 lines of ~13 tokens + one of 5,000 gave 3,006, every
#: row 3,007 wide); a real corpus's 99th percentile is ~2x the median (COCO train: 21 / 11).
AUTO_MEDIAN_FACTOR = 4
#: A split that loses more than this fraction of its sentences to truncation gets a warning.
TRUNCATION_WARN = 0.01


@dataclass(frozen=True)
class Tokenized:
    """Everything the tokenize stage writes: the vocabulary, one int32 array per split, metrics."""

    vocab: Vocab
    arrays: dict[str, np.ndarray]
    metrics: dict


def read_splits(paths: Paths) -> dict[str, list[str]]:
    """data/interim/{train,valid,test}.txt as lists of lines; a clear error if ingest has not run."""
    missing = [str(paths.split_text(s)) for s in SPLITS if not paths.split_text(s).is_file()]
    if missing:
        raise DataError(f"{', '.join(missing)}: not found; run `dvc repro ingest` first")
    return {s: read_lines(paths.split_text(s)) for s in SPLITS}


def split_stats(vocab: Vocab, sentences: Sequence[Sequence[str]], max_len: int,
                truncated: int) -> dict:
    """OOV rate (token-level, before truncation), truncation rate and length stats of one split."""
    n = len(sentences)
    lens = np.fromiter((len(s) for s in sentences), dtype=np.int64, count=n)
    total = int(lens.sum())
    stoi = vocab.stoi
    unknown = sum(1 for s in sentences for t in s if t not in stoi)
    return {
        "sentences": n,
        "tokens": total,
        "oov_tokens": unknown,
        "oov_rate": unknown / total if total else 0.0,
        "truncated": truncated,
        "truncation_rate": truncated / n if n else 0.0,
        "length_mean": float(lens.mean()) if n else 0.0,
        "length_max": int(lens.max()) if n else 0,
        "length_p95": float(np.percentile(lens, 95)) if n else 0.0,
    }


def auto_max_len(train: Sequence[Sequence[str]]) -> tuple[int, str]:
    """``tokenize.max_len: auto`` and how it was reached: the ceiling of the
    :data:`AUTO_PERCENTILE` th percentile (numpy's linear interpolation) of the train split's
    lengths, capped at :data:`AUTO_MEDIAN_FACTOR` times their median (rounded up), at least 1."""
    lens = np.fromiter((len(s) for s in train), dtype=np.int64, count=len(train))
    if not len(lens):
        return 1, "no train sentence"
    pct = int(np.ceil(np.percentile(lens, AUTO_PERCENTILE)))
    median = float(np.median(lens))
    cap = int(np.ceil(AUTO_MEDIAN_FACTOR * median))
    value = max(1, min(pct, cap))
    rule = (f"p{AUTO_PERCENTILE} of train lengths {pct}, capped at {AUTO_MEDIAN_FACTOR} x the "
            f"median {median:g} = {cap}")
    return value, rule


def resolve_max_len(max_len: int | str, train: Sequence[Sequence[str]]) -> int:
    """``tokenize.max_len`` as a number (``auto``: see :func:`auto_max_len`)."""
    if max_len != "auto":
        return int(max_len)
    return auto_max_len(train)[0]


def truncation_warnings(metrics: Mapping) -> list[str]:
    """One line per split whose truncation rate exceeds :data:`TRUNCATION_WARN` (1%)."""
    if metrics.get("max_len_auto"):
        fix = (f"tokenize.max_len is auto ({metrics.get('max_len_rule', '')}); set a number to "
               "keep longer sentences whole, or lower ingest.max_tokens to reject them")
    else:
        fix = (f"raise tokenize.max_len or set it to auto (the {AUTO_PERCENTILE}th percentile of "
               f"train lengths, at most {AUTO_MEDIAN_FACTOR}x their median)")
    out = []
    for s in SPLITS:
        rate = metrics[s]["truncation_rate"]
        if rate > TRUNCATION_WARN:
            out.append(f"tokenize.max_len = {metrics['max_len']} truncates {rate:.1%} of the {s} "
                       f"split ({metrics[s]['truncated']} of {metrics[s]['sentences']} sentences, "
                       f"longest {metrics[s]['length_max']} tokens): {fix}")
    return out


def tokenize_splits(texts: Mapping[str, Sequence[str]], cfg: TokenizeConfig) -> Tokenized:
    """Tokenize every split, build the vocabulary from ``cfg.vocab_splits`` (train by default,
    never test), encode, and measure."""
    tokens = {s: tokenize_lines(texts[s], cfg.level) for s in SPLITS}
    if not tokens["train"]:
        raise DataError("the train split is empty: nothing to build a vocabulary from; "
                        "check the ingest settings and metrics/ingest.json")
    vocab_source = [sent for split in dict.fromkeys(cfg.vocab_splits) for sent in tokens[split]]
    vocab = Vocab.build(vocab_source, min_freq=cfg.min_freq, max_size=cfg.max_size,
                        level=cfg.level)
    words = vocab.itos[len(SPECIALS):]
    if len(words) < 2:  # here, not after pretraining: a generator needs a choice to learn
        kept = f"only {words[0]!r}" if words else "none"
        raise DataError(f"the vocabulary (from {'+'.join(dict.fromkeys(cfg.vocab_splits))}, "
                        f"tokenize.level {cfg.level}, min_freq {cfg.min_freq}, max_size "
                        f"{cfg.max_size}) holds {kept} besides the specials: at least 2 tokens "
                        "are needed; use a corpus with more than one word, or lower "
                        "tokenize.min_freq")
    arrays: dict[str, np.ndarray] = {}
    max_len = resolve_max_len(cfg.max_len, tokens["train"])
    metrics: dict = {
        "level": cfg.level,
        "max_len": max_len,  # the width used (auto: resolved)
        "max_len_auto": cfg.max_len == "auto",
        **({"max_len_rule": auto_max_len(tokens["train"])[1]} if cfg.max_len == "auto" else {}),
        "vocab_size": len(vocab),  # includes the 4 specials
        "vocab_splits": list(dict.fromkeys(cfg.vocab_splits)),
        "train_types": len({t for s in tokens["train"] for t in s}),
        "vocab_hash": vocab.hash,
    }
    for s in SPLITS:
        arrays[s], truncated = encode(vocab, tokens[s], max_len)
        metrics[s] = split_stats(vocab, tokens[s], max_len, truncated)
    return Tokenized(vocab=vocab, arrays=arrays, metrics=metrics)


def save_array(path: str | Path, arr: np.ndarray) -> None:
    """np.save atomically (through a file handle: np.save would append .npy to a tmp name)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, arr, allow_pickle=False)


def load_array(path: str | Path, vocab_size: int) -> np.ndarray:
    """One encoded split as written by :func:`save_array`: a 2-D integer array of ids below
    `vocab_size`. Anything else (truncated, pickled objects, floats) is a DataError naming it."""
    from gantext.errors import DataError

    redo = "re-run the tokenize stage (`dvc repro -f tokenize`)"
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"{path}: not a readable encoded split ({str(exc).splitlines()[0]}); "
                        f"the file is damaged, truncated or holds Python objects: {redo}") from None
    if arr.dtype.kind not in "iu" or arr.ndim != 2 or arr.shape[1] < 2:
        raise DataError(f"{path}: expected a 2-D integer array (sentences x max_len + 1), got "
                        f"dtype {arr.dtype} and shape {arr.shape}: {redo}")
    if arr.size and (int(arr.min()) < 0 or int(arr.max()) >= vocab_size):
        raise DataError(f"{path}: token ids outside the vocabulary (0..{vocab_size - 1}): the "
                        f"arrays and vocab.json come from different runs: {redo}")
    return arr


def write_tokenized(result: Tokenized, paths: Paths) -> None:
    """data/processed/{split}.npy, vocab.json and metrics/tokenize.json, each written atomically."""
    for s, arr in result.arrays.items():
        save_array(paths.encoded(s), arr)
    write_json(paths.vocab, result.vocab.to_json())
    write_json(paths.metrics_json("tokenize"), result.metrics)
